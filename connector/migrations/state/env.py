"""Alembic's entry point for the state database; ``connector.migrations`` does the work."""

from connector.migrations import run_env

run_env()
