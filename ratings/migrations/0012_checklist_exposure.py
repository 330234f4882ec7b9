# The checklist deal: "fewest first" used to count every answered showing of the study on each
# answer. ChecklistExposure keeps, per image of a checklist study, how many raters were shown it
# (first showings, answered or not), maintained by triggers on ratings_checklistshowing so it is
# exact whatever inserts, moves or deletes a showing (services, admin, cascades, tests). The
# application only reads it. Only a showing's insert, delete or move counts: an answer (the
# answered_at stamp) touches no counter, so an answer + next image transaction locks one
# counter row (the next image's) and two raters' transactions cannot deadlock over them.
# Depends on 0011_checklist, the latest migration when this one was written.

import django.db.models.deletion
from django.db import migrations, models

from ratings.migrations._triggers import counter_triggers

# +1 / -1 on the counter of the checklist image of a showing's (study, image).
_ADD = """
    INSERT INTO ratings_checklistexposure (image_id, shown)
    SELECT id, 1 FROM ratings_checklistimage
    WHERE study_id = NEW.study_id AND image_id = NEW.image_id
    ON CONFLICT (image_id) DO UPDATE SET shown = {table}shown + 1;
"""
_REMOVE = """
    UPDATE ratings_checklistexposure SET shown = shown - 1
    WHERE image_id IN (
        SELECT id FROM ratings_checklistimage
        WHERE study_id = OLD.study_id AND image_id = OLD.image_id
    );
"""

POSTGRESQL_INSTALL = [
    f"""
    CREATE FUNCTION ratings_checklist_exposure() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') THEN {_REMOVE} END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') THEN {_ADD.format(table="ratings_checklistexposure.")}
        END IF;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER ratings_checklist_exposure_insert_delete
    AFTER INSERT OR DELETE ON ratings_checklistshowing
    FOR EACH ROW EXECUTE FUNCTION ratings_checklist_exposure()
    """,
    """
    CREATE TRIGGER ratings_checklist_exposure_update
    AFTER UPDATE OF study_id, image_id ON ratings_checklistshowing
    FOR EACH ROW WHEN (
        OLD.study_id IS DISTINCT FROM NEW.study_id OR OLD.image_id IS DISTINCT FROM NEW.image_id
    )
    EXECUTE FUNCTION ratings_checklist_exposure()
    """,
]
POSTGRESQL_UNINSTALL = [
    "DROP TRIGGER IF EXISTS ratings_checklist_exposure_update ON ratings_checklistshowing",
    "DROP TRIGGER IF EXISTS ratings_checklist_exposure_insert_delete ON ratings_checklistshowing",
    "DROP FUNCTION IF EXISTS ratings_checklist_exposure()",
]

SQLITE_INSTALL = [
    f"""
    CREATE TRIGGER ratings_checklist_exposure_insert AFTER INSERT ON ratings_checklistshowing
    BEGIN {_ADD.format(table="")} END
    """,
    f"""
    CREATE TRIGGER ratings_checklist_exposure_delete AFTER DELETE ON ratings_checklistshowing
    BEGIN {_REMOVE} END
    """,
    f"""
    CREATE TRIGGER ratings_checklist_exposure_update
    AFTER UPDATE OF study_id, image_id ON ratings_checklistshowing
    WHEN OLD.study_id IS NOT NEW.study_id OR OLD.image_id IS NOT NEW.image_id
    BEGIN {_REMOVE} {_ADD.format(table="")} END
    """,
]
SQLITE_UNINSTALL = [
    "DROP TRIGGER IF EXISTS ratings_checklist_exposure_update",
    "DROP TRIGGER IF EXISTS ratings_checklist_exposure_delete",
    "DROP TRIGGER IF EXISTS ratings_checklist_exposure_insert",
]

BACKFILL = """
    INSERT INTO ratings_checklistexposure (image_id, shown)
    SELECT i.id, COUNT(*) FROM ratings_checklistimage i
    JOIN ratings_checklistshowing s ON s.study_id = i.study_id AND s.image_id = i.image_id
    GROUP BY i.id
"""


class Migration(migrations.Migration):
    dependencies = [
        ("ratings", "0011_checklist"),
    ]

    operations = [
        migrations.CreateModel(
            name="ChecklistExposure",
            fields=[
                (
                    "image",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="exposure",
                        serialize=False,
                        to="ratings.checklistimage",
                    ),
                ),
                ("shown", models.PositiveIntegerField(default=0)),
            ],
        ),
        counter_triggers(
            "0012_checklist_exposure",
            {
                "postgresql": (POSTGRESQL_INSTALL, POSTGRESQL_UNINSTALL),
                "sqlite": (SQLITE_INSTALL, SQLITE_UNINSTALL),
            },
            BACKFILL,
            (),
        ),
    ]
