"""Prefect deployments of followflow."""
