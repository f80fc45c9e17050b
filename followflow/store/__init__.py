"""DuckDB storage: connection policy, migrations, snapshots, ledger, views."""
