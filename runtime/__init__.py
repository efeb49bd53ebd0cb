"""Running previewd's pieces: embedded Postgres and Temporal, child processes, data-dir secrets."""
