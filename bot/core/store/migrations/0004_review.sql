-- Spaced review: one FSRS card per learner and question they missed (or answered slowly), the answers given
-- in /review, and each learner's opt-in for reminders.
--
-- review_cards.card is the FSRS card as its library serialises it (``fsrs.Card.to_json``); ``due`` copies its
-- due time so the due items can be found in SQL, ``reviewed_at`` is the time of the last answer applied to it
-- (a quiz or test answer, or a /review answer), and ``reviews`` counts those answers: an update names the count
-- it read, so two processes never apply one answer twice.

CREATE TABLE review_cards (
    id INTEGER PRIMARY KEY,
    learner_id INTEGER NOT NULL REFERENCES learners (id),
    module INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('quiz', 'test')),
    scope INTEGER NOT NULL,
    question_id TEXT NOT NULL,
    card TEXT NOT NULL,
    due TEXT NOT NULL,
    reviewed_at TEXT NOT NULL,
    reviews INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    UNIQUE (learner_id, module, kind, scope, question_id)
);

CREATE INDEX review_cards_due ON review_cards (learner_id, due);

-- One row per /review answer, keyed by its platform event id (a double click is recorded once).
CREATE TABLE review_answers (
    id INTEGER PRIMARY KEY,
    card_id INTEGER NOT NULL REFERENCES review_cards (id),
    event_id TEXT NOT NULL UNIQUE,
    option_index INTEGER NOT NULL CHECK (option_index >= 0),
    correct BOOLEAN NOT NULL,
    rating TEXT NOT NULL,
    answered_at TEXT NOT NULL,
    due TEXT NOT NULL
);

CREATE INDEX review_answers_card ON review_answers (card_id);

-- Reminders are opt-in; ``reminded_at`` is when the last one was sent (at most one a day).
CREATE TABLE review_reminders (
    id INTEGER PRIMARY KEY,
    learner_id INTEGER NOT NULL UNIQUE REFERENCES learners (id),
    enabled BOOLEAN NOT NULL,
    reminded_at TEXT,
    updated_at TEXT NOT NULL
);
