"""followflow: keep an X account's followers and following in DuckDB and act on them safely.

The core package is plain Python and imports nothing from Prefect; `tasks/` and `flows/`
wrap it with Prefect policy.
"""

__version__ = "0.1.0"
