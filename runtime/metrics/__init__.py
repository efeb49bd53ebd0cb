"""Prometheus metrics: what previewd counts (registry.py), where it is scraped (endpoint.py), and the
figures read from Postgres at scrape time (previews.py). README "Metrics and Insights"."""
