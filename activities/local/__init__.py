"""The local platform: previews as processes on this host, behind previewd's own proxy."""
