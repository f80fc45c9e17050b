"""Prefect flows of followflow."""
