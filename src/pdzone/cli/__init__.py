"""The `pdzone` command. Every command acts with the authority of whoever has a shell on the server
(like a framework's manage command) and is audited as os:<user>@<host>."""

from __future__ import annotations

from pdzone.cli import cleanroom, commands  # noqa: F401  (each registers its commands on the app)
from pdzone.cli.base import app


def main() -> None:
    app()
