"""ratings.statements: reads compiled once from querysets, and PREPARE that survives a new
connection and a changed column type."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from ratings.models import Study
from ratings.statements import CompiledRead, prepared_execute
from tests.factories import make_study

pytestmark = pytest.mark.django_db(transaction=True)

# PREPARE is PostgreSQL's: these run in the servers configuration (CI's second run), and the
# embedded run deselects them with the other `services` tests instead of skipping them.
postgres_only = pytest.mark.services


def _rows(name: str, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        prepared_execute(cursor, name, sql, params)
        return list(cursor.fetchall())


def test_compiled_read_binds_new_values_to_the_queryset_sql() -> None:
    one, two = make_study(n_configs=2), make_study(n_configs=2)
    read = CompiledRead(
        "t_study_name",
        lambda *, pk: Study.objects.filter(pk=pk).values_list("id", "name"),
        {"pk": -990001},
    )
    for study in (one, two):
        with connection.cursor() as cursor:
            read.execute(cursor, pk=study.pk)
            assert cursor.fetchall() == [(study.pk, study.name)]
    sql, _ = read.compiled(connection.alias)
    assert sql.count("%s") == 1


def test_compiled_read_refuses_a_value_it_cannot_find() -> None:
    read = CompiledRead(
        "t_bad", lambda *, pk: Study.objects.filter(pk=1).values_list("id"), {"pk": -990002}
    )
    with pytest.raises(ValueError):
        read.compiled(connection.alias)


@postgres_only
def test_prepared_once_then_again_after_a_reconnect() -> None:
    with CaptureQueriesContext(connection) as first:
        assert _rows("t_plus", "SELECT %s::int + 1", [1]) == [(2,)]
        assert _rows("t_plus", "SELECT %s::int + 1", [2]) == [(3,)]
    sqls = [q["sql"] for q in first.captured_queries]
    assert sum(s.startswith("PREPARE loupe_t_plus") for s in sqls) == 1
    assert sum("EXECUTE loupe_t_plus" in s for s in sqls) == 2
    connection.close()
    with CaptureQueriesContext(connection) as again:
        assert _rows("t_plus", "SELECT %s::int + 1", [3]) == [(4,)]
    assert any(q["sql"].startswith("PREPARE loupe_t_plus") for q in again.captured_queries)


@postgres_only
@pytest.mark.parametrize("in_atomic", [False, True])
def test_a_changed_column_type_is_prepared_again(in_atomic: bool) -> None:
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS loupe_scratch")
        cursor.execute("CREATE TABLE loupe_scratch (id int, v int)")
        cursor.execute("INSERT INTO loupe_scratch VALUES (1, 7)")
    sql = "SELECT * FROM loupe_scratch WHERE id = %s"
    try:
        assert _rows("t_scratch", sql, [1]) == [(1, 7)]
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE loupe_scratch ALTER COLUMN v TYPE text")
        with CaptureQueriesContext(connection) as after:
            if in_atomic:
                with transaction.atomic():
                    assert _rows("t_scratch", sql, [1]) == [(1, "7")]
                    # The transaction is still usable after the failed EXECUTE.
                    assert _rows("t_other", "SELECT %s::int", [5]) == [(5,)]
            else:
                assert _rows("t_scratch", sql, [1]) == [(1, "7")]
        sqls = [q["sql"] for q in after.captured_queries]
        assert "DEALLOCATE loupe_t_scratch" in sqls
        assert any(s.startswith("PREPARE loupe_t_scratch") for s in sqls)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS loupe_scratch")


@postgres_only
def test_a_statement_gone_from_the_session_is_prepared_again() -> None:
    assert _rows("t_gone", "SELECT %s::int * 2", [4]) == [(8,)]
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    with transaction.atomic():
        assert _rows("t_gone", "SELECT %s::int * 2", [5]) == [(10,)]
