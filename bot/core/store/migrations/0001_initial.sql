-- Base schema: learners and their append-only history.
-- Portable SQL (SQLite and PostgreSQL alike): no AUTOINCREMENT, no INSERT OR IGNORE,
-- timestamps are ISO 8601 UTC text written by the application.

CREATE TABLE learners (
    id INTEGER PRIMARY KEY,
    platform TEXT NOT NULL,
    workspace TEXT NOT NULL,
    user_id TEXT NOT NULL,
    display_name TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    UNIQUE (platform, workspace, user_id)
);

-- One row per view.
CREATE TABLE lesson_views (
    id INTEGER PRIMARY KEY,
    learner_id INTEGER NOT NULL REFERENCES learners (id),
    module INTEGER NOT NULL,
    lesson INTEGER NOT NULL,
    viewed_at TEXT NOT NULL
);

-- Only a learner's first answer to a quiz question is kept: it is the one that counts.
CREATE TABLE quiz_answers (
    id INTEGER PRIMARY KEY,
    learner_id INTEGER NOT NULL REFERENCES learners (id),
    module INTEGER NOT NULL,
    lesson INTEGER NOT NULL,
    question_id TEXT NOT NULL,
    option_index INTEGER NOT NULL CHECK (option_index >= 0),
    correct BOOLEAN NOT NULL,
    event_id TEXT NOT NULL UNIQUE,
    answered_at TEXT NOT NULL,
    UNIQUE (learner_id, module, lesson, question_id)
);

CREATE TABLE test_attempts (
    id INTEGER PRIMARY KEY,
    learner_id INTEGER NOT NULL REFERENCES learners (id),
    module INTEGER NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    score INTEGER,
    total INTEGER,
    passed BOOLEAN
);

-- At most one unfinished attempt per learner and module.
CREATE UNIQUE INDEX test_attempts_one_open ON test_attempts (learner_id, module) WHERE finished_at IS NULL;

-- One answer per attempt and question.
CREATE TABLE test_answers (
    id INTEGER PRIMARY KEY,
    attempt_id INTEGER NOT NULL REFERENCES test_attempts (id),
    question_id TEXT NOT NULL,
    option_index INTEGER NOT NULL CHECK (option_index >= 0),
    correct BOOLEAN NOT NULL,
    event_id TEXT NOT NULL UNIQUE,
    answered_at TEXT NOT NULL,
    UNIQUE (attempt_id, question_id)
);

CREATE TABLE lab_threads (
    id INTEGER PRIMARY KEY,
    learner_id INTEGER NOT NULL REFERENCES learners (id),
    module INTEGER NOT NULL,
    lab INTEGER NOT NULL,
    platform TEXT NOT NULL,
    thread_key TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (platform, thread_key)
);

-- One row per question asked in a lab thread, as the answer ended.
CREATE TABLE lab_turns (
    id INTEGER PRIMARY KEY,
    thread_id INTEGER NOT NULL REFERENCES lab_threads (id),
    event_id TEXT NOT NULL UNIQUE,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('complete', 'partial', 'stopped', 'failed')),
    error TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL
);
