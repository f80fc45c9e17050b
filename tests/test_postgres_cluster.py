"""The throwaway cluster the PostgreSQL half of the suite runs on."""

from __future__ import annotations

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
