from pdzone.cli import main

main()
