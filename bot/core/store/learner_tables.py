"""Where a learner's data lives: every table of the schema, with the condition that picks the learner's rows.

Children come before their parents, so ``forget_learner`` can delete in this order without leaving a foreign
key dangling; ``learner_data`` reads the same rows for a learner's export. ``{learner}`` stands for the
learner id's placeholder (``?`` on SQLite, ``$1`` on PostgreSQL). A test checks that every table is listed.
"""

from __future__ import annotations

LEARNER_TABLES: tuple[tuple[str, str], ...] = (
    ("answer_feedback", "learner_id = {learner}"),  # only the answer's own learner gives feedback on it
    ("review_answers", "card_id IN (SELECT id FROM review_cards WHERE learner_id = {learner})"),
    ("review_cards", "learner_id = {learner}"),
    ("review_reminders", "learner_id = {learner}"),
    ("lab_answers", "thread_id IN (SELECT id FROM lab_threads WHERE learner_id = {learner})"),
    ("lab_turns", "thread_id IN (SELECT id FROM lab_threads WHERE learner_id = {learner})"),
    ("lab_threads", "learner_id = {learner}"),
    ("test_answers", "attempt_id IN (SELECT id FROM test_attempts WHERE learner_id = {learner})"),
    ("test_attempts", "learner_id = {learner}"),
    ("quiz_answers", "learner_id = {learner}"),
    ("lesson_views", "learner_id = {learner}"),
    ("learners", "id = {learner}"),
)
