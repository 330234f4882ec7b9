"""What the ratings migrations that keep a counter with triggers share (0004_perf's
PairExposure, 0006_vote_tally's VoteTally, 0012_checklist_exposure's ChecklistExposure).
The migration loader skips modules whose names start with an underscore."""

from collections.abc import Sequence
from typing import Any

from django.db import migrations
from django.db.utils import NotSupportedError

#: vendor → (install statements, uninstall statements)
Triggers = dict[str, tuple[Sequence[str], Sequence[str]]]


def counter_triggers(
    name: str, triggers: Triggers, backfill: str, params: Sequence[Any] = ()
) -> migrations.RunPython:
    """Install the counter's triggers for the connection's database, then count what is
    already there (`backfill`); reversed, drop the triggers. Triggers first: their DDL locks
    the counted table against writes until the migration commits, so nothing is counted
    twice or missed."""

    def statements(vendor: str, *, install: bool) -> Sequence[str]:
        if vendor not in triggers:
            raise NotSupportedError(
                f"ratings {name} keeps its counter with triggers written for "
                f"{' and '.join(sorted(triggers))}; {vendor!r} is not supported."
            )
        return triggers[vendor][0 if install else 1]

    def install(apps: Any, schema_editor: Any) -> None:
        for sql in statements(schema_editor.connection.vendor, install=True):
            schema_editor.execute(sql)
        schema_editor.execute(backfill, params)

    def uninstall(apps: Any, schema_editor: Any) -> None:
        for sql in statements(schema_editor.connection.vendor, install=False):
            schema_editor.execute(sql)

    return migrations.RunPython(install, uninstall)
