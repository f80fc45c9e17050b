"""The throwaway cluster the PostgreSQL half of the suite runs on."""

from __future__ import annotations

from pathlib import Path

import psycopg


def test_cluster_serves_a_fresh_database_on_loopback(postgres_cluster, postgres_url) -> None:
    assert "127.0.0.1" in postgres_url
    with psycopg.connect(postgres_url) as connection:
        assert connection.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        ).fetchone() == (0,)
        connection.execute("CREATE TABLE probe (id BIGINT PRIMARY KEY)")


def test_restart_cuts_connections_and_keeps_data(postgres_cluster, postgres_url) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute("CREATE TABLE kept (id BIGINT)")
        connection.execute("INSERT INTO kept VALUES (1)")
    held = psycopg.connect(postgres_url, autocommit=True)
    postgres_cluster.restart()
    try:
        held.execute("SELECT 1")
    except psycopg.OperationalError:
        pass
    else:
        raise AssertionError("a connection opened before the restart still worked")
    finally:
        held.close()
    with psycopg.connect(postgres_url) as connection:
        assert connection.execute("SELECT id FROM kept").fetchall() == [(1,)]


def test_a_cluster_whose_session_died_is_swept_by_the_next(postgres_cluster) -> None:
    import subprocess
    import sys

    from tests.postgres import sweep_leftover_clusters

    # A session that starts a cluster and is killed before its teardown.
    script = (
        "import os, sys; from pathlib import Path; sys.path.insert(0, '.');"
        "from tests.postgres import PostgresCluster;"
        f"c = PostgresCluster(Path({str(postgres_cluster.bin_dir)!r})).start();"
        "print(c.root, flush=True); os._exit(0)"
    )
    child = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert child.returncode == 0, child.stderr
    left = Path(child.stdout.strip())
    assert (left / "data" / "postmaster.pid").exists()
    swept = sweep_leftover_clusters(postgres_cluster.bin_dir)
    assert left in swept and not left.exists()
    assert postgres_cluster.root not in swept and postgres_cluster.root.exists()
