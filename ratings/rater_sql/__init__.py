"""The reads behind every vote: the access check (access.py), the locked presentation
(vote.py), the deal (deal.py), the cards (card.py); the inserts and stamps: ratings.rater_writes.

A vote answers with the next pair, so these run on every vote of every rater. The reads are
querysets compiled once (ratings.statements.CompiledRead: the ORM builds the SQL, not every
vote) whose rows become tuples or, through Model.from_db, model instances; on PostgreSQL they
run as prepared statements (ratings.statements.prepared_execute). The inserts stay
hand-written: one statement each, colliding rows skipped with ON CONFLICT DO NOTHING (no
savepoint), RETURNING the ids, and a vote's `answered_at` stamped in the same statement on
PostgreSQL. Within ratings.statements.plain_orm() the reads run as ordinary querysets instead
(bench/rate_load.py --orm compares the two). tests/ratings/test_rate_perf.py checks the reads
against their ORM twins in ratings.pairs and the query counts per database.
"""

from ratings.rater_sql.access import criteria_of, rater_study
from ratings.rater_sql.card import Card, cards
from ratings.rater_sql.deal import deal_state, pair_presented
from ratings.rater_sql.vote import presentation_for_vote

__all__ = [
    "Card",
    "cards",
    "criteria_of",
    "deal_state",
    "pair_presented",
    "presentation_for_vote",
    "rater_study",
]
