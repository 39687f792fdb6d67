"""Alembic's entry point for the embedded marketing store; ``connector.migrations`` runs it."""

from connector.migrations import run_env

run_env()
