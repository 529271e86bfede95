"""Answer feedback queries, written once for both backends (``{values}`` / ``{module}`` are placeholders).

A second click replaces the first: the row is keyed by (answer, learner). A 👎 clicked again without a reason
keeps the reason given before; a change of mind (👍 after 👎) clears it.
"""

from __future__ import annotations

SET_FEEDBACK = """
INSERT INTO answer_feedback (answer_id, learner_id, helpful, reason, created_at, updated_at) VALUES ({values})
ON CONFLICT (answer_id, learner_id) DO UPDATE SET
    helpful = excluded.helpful,
    reason = CASE WHEN excluded.reason <> '' OR excluded.helpful <> answer_feedback.helpful
                  THEN excluded.reason ELSE answer_feedback.reason END,
    updated_at = excluded.updated_at
"""

UNHELPFUL_ANSWERS = """
SELECT f.answer_id, h.lab, a.question, f.reason, l.platform, l.workspace, l.display_name, f.updated_at
    FROM answer_feedback f
    JOIN lab_answers a ON a.id = f.answer_id
    JOIN lab_threads h ON h.id = a.thread_id
    JOIN learners l ON l.id = f.learner_id
    WHERE NOT f.helpful AND h.module = {module}
    ORDER BY f.updated_at DESC, f.id DESC
"""
