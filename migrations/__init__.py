"""Alembic migrations, generated from the models and committed."""
