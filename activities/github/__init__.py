"""GitHub: the App's authentication and the REST calls previewd makes."""
