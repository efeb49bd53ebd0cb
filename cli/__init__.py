"""The `previewd` command."""
