"""Loopback fakes of third-party APIs, written to their published contracts."""
