"""A database per PR (issue 16): its Postgres (urls.py), the SQL run there (server.py), the activities."""
