"""The web layer: REST API under /api/v1 and the server-rendered console."""
