"""Label values made from what others send, kept to a bounded set (each distinct value is a time series
Prometheus keeps): an HTTP status another party chose (a preview's answer is PR code's, any three
digits h11 accepts; GitHub's or Fly's) is kept when HTTP defines it, otherwise only its class."""

from __future__ import annotations

from http import HTTPStatus

KNOWN_STATUSES = frozenset(status.value for status in HTTPStatus)


def status_label(status: int) -> str:
    """ "404" for a status HTTP defines; "5xx" for 599, "other" outside 100-599."""
    if status in KNOWN_STATUSES:
        return str(status)
    return f"{status // 100}xx" if 100 <= status <= 599 else "other"
