# The analysis cache's version: reports used to count the study's judgments
# on every page view to notice new votes, a scan of every judgment. VoteTally keeps, per study
# and rater, how many times a judgment was written, changed or deleted, maintained by triggers
# on ratings_judgment so it moves whatever touches a judgment (services, admin, cascades,
# tests). The application only reads it (ratings.reports.judgments._version).
# Depends on 0005_reference_image_limits, the latest migration when this one was written.

from django.db import migrations, models

from ratings.migrations._triggers import counter_triggers

# One statement per side of a change: +1 on the (study, rater) row of the old and/or new row.
POSTGRESQL_BUMP = """
    INSERT INTO ratings_votetally (study_id, rater_id, changes)
    SELECT c.study_id, {row}.rater_id, 1 FROM ratings_comparison c WHERE c.id = {row}.comparison_id
    ON CONFLICT (study_id, rater_id) DO UPDATE SET changes = ratings_votetally.changes + 1;
"""
POSTGRESQL_INSTALL = [
    f"""
    CREATE FUNCTION ratings_judgment_tally() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') THEN {POSTGRESQL_BUMP.format(row="OLD")} END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') THEN {POSTGRESQL_BUMP.format(row="NEW")} END IF;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER ratings_judgment_tally AFTER INSERT OR UPDATE OR DELETE ON ratings_judgment
    FOR EACH ROW EXECUTE FUNCTION ratings_judgment_tally()
    """,
]
POSTGRESQL_UNINSTALL = [
    "DROP TRIGGER IF EXISTS ratings_judgment_tally ON ratings_judgment",
    "DROP FUNCTION IF EXISTS ratings_judgment_tally()",
]

SQLITE_BUMP = """
    INSERT INTO ratings_votetally (study_id, rater_id, changes)
    SELECT study_id, {row}.rater_id, 1 FROM ratings_comparison WHERE id = {row}.comparison_id
    ON CONFLICT (study_id, rater_id) DO UPDATE SET changes = changes + 1;
"""
SQLITE_INSTALL = [
    f"""
    CREATE TRIGGER ratings_judgment_tally_{op.lower()} AFTER {op} ON ratings_judgment
    BEGIN {"".join(SQLITE_BUMP.format(row=row) for row in rows)} END
    """
    for op, rows in (("INSERT", ["NEW"]), ("UPDATE", ["OLD", "NEW"]), ("DELETE", ["OLD"]))
]
SQLITE_UNINSTALL = [
    f"DROP TRIGGER IF EXISTS ratings_judgment_tally_{op}" for op in ("insert", "update", "delete")
]

BACKFILL = """
    INSERT INTO ratings_votetally (study_id, rater_id, changes)
    SELECT c.study_id, j.rater_id, COUNT(*)
    FROM ratings_judgment j JOIN ratings_comparison c ON c.id = j.comparison_id
    GROUP BY c.study_id, j.rater_id
"""


class Migration(migrations.Migration):

    dependencies = [
        ("ratings", "0005_reference_image_limits"),
    ]

    operations = [
        migrations.CreateModel(
            name="VoteTally",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("study_id", models.BigIntegerField()),
                ("rater_id", models.BigIntegerField()),
                ("changes", models.BigIntegerField(default=0)),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("study_id", "rater_id"), name="vote_tally_key"
                    )
                ],
            },
        ),
        counter_triggers(
            "0006_vote_tally",
            {
                "postgresql": (POSTGRESQL_INSTALL, POSTGRESQL_UNINSTALL),
                "sqlite": (SQLITE_INSTALL, SQLITE_UNINSTALL),
            },
            BACKFILL,
            (),
        ),
    ]
