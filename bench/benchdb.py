"""What the benchmarks share: the loopback PostgreSQL they make throwaway databases on."""

from __future__ import annotations

HOST = "127.0.0.1"
PG = f"postgres://postgres@{HOST}:5432/"


def admin(sql: str) -> None:
    """Run one statement outside any transaction (CREATE / DROP DATABASE) as postgres."""
    import psycopg2

    conn = psycopg2.connect(PG + "postgres")
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute(sql)
    conn.close()
