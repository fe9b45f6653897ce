"""The data plane: zone data encrypted at rest, read only inside the process (R-25, R-32)."""
