"""Statements run on every vote: reads compiled once from querysets, and PREPARE on PostgreSQL.

`CompiledRead` builds a read as an ordinary queryset, compiles it once per database (its SQL
with placeholders, through the queryset's public compiler) and then binds new values to the
placeholders on each call: the queryset is the statement's one definition, without paying
the ORM's millisecond of query building on every vote.

`prepared_execute` runs a statement on PostgreSQL as a prepared statement, planned once per
session. It survives what makes a prepared statement go away or go stale: a new connection
(tracked by connection object and backend pid) and a changed column type ("cached plan must
not change result type"), which it answers by DEALLOCATE and PREPARE once more. Inside a
transaction the EXECUTE goes with a SAVEPOINT in the same round trip, so such a failure
rolls back only to it. LOUPE_PREPARED_SQL=0 turns PREPARE off (a pooler in transaction
mode, such as PgBouncer's, cannot keep a session's statements).

`plain_orm()`: within it, the rating path reads through ordinary querysets (model instances,
Django's own execution) instead; bench/rate_load.py --orm measures that path against this one.
"""

from __future__ import annotations

import contextvars
import re
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection, connections
from django.db.models import Model, QuerySet

_plain = contextvars.ContextVar("loupe_plain_orm", default=False)


@contextmanager
def plain_orm(on: bool = True) -> Iterator[None]:
    """Run the rating path's reads through plain querysets while inside (for the bench)."""
    token = _plain.set(on)
    try:
        yield
    finally:
        _plain.reset(token)


def using_plain_orm() -> bool:
    return _plain.get()


_PLACEHOLDER = re.compile(r"%s")
#: raw connection → (backend pid, names prepared on it)
_prepared: weakref.WeakKeyDictionary[Any, tuple[int, set[str]]] = weakref.WeakKeyDictionary()
#: SQLSTATEs after which a prepared statement is made again: it does not exist (26000), its
#: result type changed (0A000, "cached plan must not change result type").
_REPREPARE = {"26000", "0A000"}


def _names(raw: Any) -> set[str]:
    pid = raw.info.backend_pid
    state = _prepared.get(raw)
    if state is None or state[0] != pid:
        state = (pid, set())
        _prepared[raw] = state
    return state[1]


def _numbered(sql: str) -> str:
    counter = iter(range(1, sql.count("%s") + 1))
    return _PLACEHOLDER.sub(lambda _: f"${next(counter)}", sql)


def prepared_execute(cursor: Any, name: str, sql: str, params: Sequence[Any]) -> None:
    """Execute `sql` with `params` on `cursor`; on PostgreSQL as the prepared statement `name`
    (PREPAREd once per connection, made again once if it went missing or stale)."""
    db = cursor.db
    if db.vendor != "postgresql" or not settings.LOUPE_PREPARED_SQL:
        cursor.execute(sql, params)
        return
    name = f"loupe_{name}"
    names = _names(db.connection)
    execute = f"EXECUTE {name} ({', '.join(['%s'] * len(params))})" if params else f"EXECUTE {name}"
    in_transaction = db.in_atomic_block
    if name not in names:
        cursor.execute(f"PREPARE {name} AS {_numbered(sql)}")
        names.add(name)
        cursor.execute(execute, params)
        return
    try:
        # The savepoint rides in the same round trip; a failure rolls back to it only.
        cursor.execute(f"SAVEPOINT loupe_stmt; {execute}" if in_transaction else execute, params)
    except DatabaseError as error:
        if getattr(error.__cause__, "pgcode", None) not in _REPREPARE:
            raise
        if in_transaction:
            cursor.execute("ROLLBACK TO SAVEPOINT loupe_stmt")
        if name in names and error.__cause__.pgcode != "26000":  # type: ignore[union-attr]
            cursor.execute(f"DEALLOCATE {name}")
        names.discard(name)
        cursor.execute(f"PREPARE {name} AS {_numbered(sql)}")
        names.add(name)
        cursor.execute(execute, params)


class CompiledRead:
    """A read defined as a queryset and compiled once per database.

    `build(**samples)` makes the queryset; each sample is a value of the right type that
    nothing else in the query holds (say -900001), so its placeholder is found among the
    compiled parameters and bound anew on each call. `suffix` is appended to the SQL (a
    locking clause the queryset cannot compile outside a transaction).
    """

    def __init__(
        self,
        name: str,
        build: Callable[..., QuerySet[Any]],
        samples: dict[str, Any],
        suffix: Callable[[Any], str] | None = None,
    ) -> None:
        self.name = name
        self.build = build
        self.samples = samples
        self.suffix = suffix
        self._compiled: dict[str, tuple[str, list[tuple[bool, Any]]]] = {}

    def compiled(self, using: str) -> tuple[str, list[tuple[bool, Any]]]:
        """The SQL and, per placeholder, (True, sample name) or (False, constant)."""
        found = self._compiled.get(using)
        if found is None:
            sql, params = self.build(**self.samples).query.get_compiler(using).as_sql()
            by_value = {v: k for k, v in self.samples.items()}
            slots = [(True, by_value[p]) if _hashable(p) and p in by_value else (False, p)
                     for p in params]  # fmt: skip
            unbound = set(self.samples) - {k for is_value, k in slots if is_value}
            if unbound:
                raise ValueError(f"{self.name}: no placeholder for {sorted(unbound)}.")
            if self.suffix is not None:
                sql += self.suffix(connections[using])
            found = (sql, slots)
            self._compiled[using] = found
        return found

    def params(self, using: str, values: dict[str, Any]) -> tuple[str, list[Any]]:
        sql, slots = self.compiled(using)
        return sql, [values[k] if is_value else k for is_value, k in slots]

    def execute(self, cursor: Any, **values: Any) -> None:
        sql, params = self.params(cursor.db.alias, values)
        prepared_execute(cursor, self.name, sql, params)


def table(model: type[Model]) -> str:
    """A model's table name, quoted for the connection (for hand-written statements)."""
    return connection.ops.quote_name(model._meta.db_table)


def column(model: type[Model], attname: str) -> str:
    """A model field's column name, quoted for the connection."""
    field = next(f for f in model._meta.concrete_fields if f.attname == attname)
    return connection.ops.quote_name(field.column)


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return not isinstance(value, bool)
