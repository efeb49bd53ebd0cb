"""The htmx + Jinja2 dashboard: sign-in, pages, live logs, actions and the GitHub setup flow."""
