"""The local platform's reverse proxy in front of previews: HTTP and WebSockets, routed by Host."""

from web.proxy.router import PreviewProxy

__all__ = ["PreviewProxy"]
