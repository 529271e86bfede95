"""The instructor's aggregate queries, written once for both backends (``{module}`` is the module's placeholder).

Both count distinct learners or rows with plain SQL that SQLite and PostgreSQL read alike; booleans are
tested as ``column`` / ``NOT column`` so SQLite's 0/1 and PostgreSQL's BOOLEAN both work.
"""

from __future__ import annotations

FUNNEL = """
SELECT 'viewed' AS stage, lesson AS number, COUNT(DISTINCT learner_id) AS learners
    FROM lesson_views WHERE module = {module} GROUP BY lesson
UNION ALL
SELECT 'quiz', lesson, COUNT(DISTINCT learner_id) FROM quiz_answers WHERE module = {module} GROUP BY lesson
UNION ALL
SELECT 'lab', h.lab, COUNT(DISTINCT h.learner_id) FROM lab_turns t JOIN lab_threads h ON h.id = t.thread_id
    WHERE h.module = {module} GROUP BY h.lab
UNION ALL
SELECT 'passed', 0, COUNT(DISTINCT learner_id) FROM test_attempts WHERE module = {module} AND passed
"""

LEARNER_SUMMARIES = """
SELECT l.id AS learner_id, l.platform, l.workspace, l.user_id, l.display_name,
    (SELECT COUNT(DISTINCT v.lesson) FROM lesson_views v
        WHERE v.learner_id = l.id AND v.module = {module}) AS lessons_viewed,
    (SELECT COUNT(*) FROM quiz_answers q WHERE q.learner_id = l.id AND q.module = {module}) AS quiz_answered,
    (SELECT COUNT(*) FROM quiz_answers q
        WHERE q.learner_id = l.id AND q.module = {module} AND q.correct) AS quiz_correct,
    (SELECT COUNT(*) FROM lab_turns t JOIN lab_threads h ON h.id = t.thread_id
        WHERE h.learner_id = l.id AND h.module = {module} AND t.status = 'complete') AS lab_answers,
    (SELECT COUNT(*) FROM test_attempts a
        WHERE a.learner_id = l.id AND a.module = {module} AND a.finished_at IS NOT NULL) AS test_attempts,
    (SELECT MAX(a.score * 100 / a.total) FROM test_attempts a
        WHERE a.learner_id = l.id AND a.module = {module} AND a.total > 0) AS best_test_percent,
    EXISTS (SELECT 1 FROM test_attempts a
        WHERE a.learner_id = l.id AND a.module = {module} AND a.passed) AS test_passed,
    (SELECT COUNT(*) FROM review_cards c WHERE c.learner_id = l.id AND c.module = {module}) AS review_cards
FROM learners l ORDER BY l.id
"""
