"""FastAPI app: webhooks, JSON API, health, and the local previews' reverse proxy."""
