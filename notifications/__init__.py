"""Notifications of preview events to a project's channels: Slack, generic webhooks, email."""
