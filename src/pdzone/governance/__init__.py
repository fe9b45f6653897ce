"""Zones and their supervision (R-2, R-8), and later the authorization workflow."""
