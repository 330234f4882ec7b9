# The rating path: "fewest first" used to count every presentation of the
# study on each vote. PairExposure keeps that count per comparison, maintained by triggers on
# ratings_presentation so it is exact whatever inserts, updates or deletes a presentation
# (services, admin, cascades, tests): +1 for a first presentation that is not skipped, -1 when
# it is skipped or deleted. The application only reads it.
# Depends on 0003_audit, the latest migration when this one was written.

import django.db.models.deletion
from django.db import migrations, models

from ratings.migrations._triggers import counter_triggers

POSTGRESQL_INSTALL = [
    """
    CREATE FUNCTION ratings_presentation_exposure() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') AND NOT OLD.is_repeat AND OLD.skipped_at IS NULL THEN
            UPDATE ratings_pairexposure SET shown = shown - 1
            WHERE comparison_id = OLD.comparison_id;
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') AND NOT NEW.is_repeat AND NEW.skipped_at IS NULL THEN
            INSERT INTO ratings_pairexposure (comparison_id, shown) VALUES (NEW.comparison_id, 1)
            ON CONFLICT (comparison_id) DO UPDATE SET shown = ratings_pairexposure.shown + 1;
        END IF;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER ratings_presentation_exposure_insert_delete
    AFTER INSERT OR DELETE ON ratings_presentation
    FOR EACH ROW EXECUTE FUNCTION ratings_presentation_exposure()
    """,
    """
    CREATE TRIGGER ratings_presentation_exposure_update
    AFTER UPDATE OF comparison_id, is_repeat, skipped_at ON ratings_presentation
    FOR EACH ROW WHEN (
        OLD.comparison_id IS DISTINCT FROM NEW.comparison_id
        OR OLD.is_repeat IS DISTINCT FROM NEW.is_repeat
        OR (OLD.skipped_at IS NULL) IS DISTINCT FROM (NEW.skipped_at IS NULL)
    )
    EXECUTE FUNCTION ratings_presentation_exposure()
    """,
]
POSTGRESQL_UNINSTALL = [
    "DROP TRIGGER IF EXISTS ratings_presentation_exposure_update ON ratings_presentation",
    "DROP TRIGGER IF EXISTS ratings_presentation_exposure_insert_delete ON ratings_presentation",
    "DROP FUNCTION IF EXISTS ratings_presentation_exposure()",
]

SQLITE_INSTALL = [
    """
    CREATE TRIGGER ratings_presentation_exposure_insert AFTER INSERT ON ratings_presentation
    WHEN NOT NEW.is_repeat AND NEW.skipped_at IS NULL
    BEGIN
        INSERT INTO ratings_pairexposure (comparison_id, shown) VALUES (NEW.comparison_id, 1)
        ON CONFLICT (comparison_id) DO UPDATE SET shown = shown + 1;
    END
    """,
    """
    CREATE TRIGGER ratings_presentation_exposure_delete AFTER DELETE ON ratings_presentation
    WHEN NOT OLD.is_repeat AND OLD.skipped_at IS NULL
    BEGIN
        UPDATE ratings_pairexposure SET shown = shown - 1 WHERE comparison_id = OLD.comparison_id;
    END
    """,
    """
    CREATE TRIGGER ratings_presentation_exposure_update
    AFTER UPDATE OF comparison_id, is_repeat, skipped_at ON ratings_presentation
    WHEN OLD.comparison_id IS NOT NEW.comparison_id
        OR OLD.is_repeat IS NOT NEW.is_repeat
        OR (OLD.skipped_at IS NULL) IS NOT (NEW.skipped_at IS NULL)
    BEGIN
        UPDATE ratings_pairexposure SET shown = shown - 1
        WHERE comparison_id = OLD.comparison_id AND NOT OLD.is_repeat AND OLD.skipped_at IS NULL;
        INSERT INTO ratings_pairexposure (comparison_id, shown)
        SELECT NEW.comparison_id, 1 WHERE NOT NEW.is_repeat AND NEW.skipped_at IS NULL
        ON CONFLICT (comparison_id) DO UPDATE SET shown = shown + 1;
    END
    """,
]
SQLITE_UNINSTALL = [
    "DROP TRIGGER IF EXISTS ratings_presentation_exposure_update",
    "DROP TRIGGER IF EXISTS ratings_presentation_exposure_delete",
    "DROP TRIGGER IF EXISTS ratings_presentation_exposure_insert",
]

BACKFILL = """
    INSERT INTO ratings_pairexposure (comparison_id, shown)
    SELECT comparison_id, COUNT(*) FROM ratings_presentation
    WHERE is_repeat = %s AND skipped_at IS NULL
    GROUP BY comparison_id
"""


class Migration(migrations.Migration):

    dependencies = [
        ("ratings", "0003_audit"),
    ]

    operations = [
        migrations.CreateModel(
            name="PairExposure",
            fields=[
                (
                    "comparison",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="exposure",
                        serialize=False,
                        to="ratings.comparison",
                    ),
                ),
                ("shown", models.PositiveIntegerField(default=0)),
            ],
        ),
        counter_triggers(
            "0004_perf",
            {
                "postgresql": (POSTGRESQL_INSTALL, POSTGRESQL_UNINSTALL),
                "sqlite": (SQLITE_INSTALL, SQLITE_UNINSTALL),
            },
            BACKFILL,
            [False],
        ),
    ]
