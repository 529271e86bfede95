-- Answers that cite the lesson, and learners' feedback on answers.
--
-- lab_turns.sources: the lesson sections the answer cited, as a JSON list of {"lesson": N, "section": heading},
-- so a source button still opens its section after a restart.
--
-- answer_feedback: one row per learner and lab answer (lab_answers.id, what the buttons carry); a second click
-- replaces helpful/reason and updated_at.

ALTER TABLE lab_turns ADD COLUMN sources TEXT NOT NULL DEFAULT '[]';

CREATE TABLE answer_feedback (
    id INTEGER PRIMARY KEY,
    answer_id INTEGER NOT NULL REFERENCES lab_answers (id),
    learner_id INTEGER NOT NULL REFERENCES learners (id),
    helpful INTEGER NOT NULL CHECK (helpful IN (0, 1)),
    reason TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (answer_id, learner_id)
);

CREATE INDEX answer_feedback_unhelpful ON answer_feedback (helpful, updated_at);
