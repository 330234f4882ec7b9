"""What the benchmarks share: the loopback PostgreSQL they make throwaway databases on."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

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


@contextmanager
def throwaway_django(db: str, **env: str) -> Iterator[None]:
    """Django set up on a fresh, migrated PostgreSQL database `db` (production settings, no
    query log), dropped afterwards. `env`: more environment for the settings."""
    import os
    import secrets

    admin(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    admin(f'CREATE DATABASE "{db}"')
    os.environ.update(
        {
            "DATABASE_URL": PG + db,
            "DJANGO_SETTINGS_MODULE": "evalsite.settings",
            "SECRET_KEY": secrets.token_hex(32),
            "DEBUG": "0",
            "SECURE_SSL_REDIRECT": "0",
            "LOG_LEVEL": "WARNING",
            **env,
        }
    )
    import django

    django.setup()
    try:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        yield
    finally:
        from django.db import connections

        connections.close_all()
        admin(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
