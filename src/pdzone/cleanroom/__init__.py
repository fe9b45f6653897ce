"""The clean room: partners query zone data without seeing it (R-25, R-27, R-32)."""
