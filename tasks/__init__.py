"""Prefect tasks of followflow."""
