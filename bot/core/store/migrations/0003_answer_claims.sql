-- Lab answers claimed before they start (exactly once, restart-proof), interrupted turns,
-- and a per-attempt shuffle seed for the module test.
--
-- lab_answers: one row per lab question admitted, claimed by its platform event id before anything
-- is shown or sent to the API. ``owner`` is the process answering it and ``lease_until`` how long that
-- process's claim holds without renewal: a claim still 'streaming' past its lease belongs to a process
-- that is gone, and any live process reconciles it. ``message_ids`` (JSON list) and ``shown`` (what the
-- last message displayed) are checkpointed with each renewal so the reconciler can repair the message.

CREATE TABLE lab_answers (
    id INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    thread_id INTEGER NOT NULL REFERENCES lab_threads (id),
    learner_id INTEGER NOT NULL REFERENCES learners (id),
    question TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('streaming', 'done', 'interrupted')),
    owner TEXT NOT NULL,
    lease_until TEXT NOT NULL,
    message_ids TEXT NOT NULL DEFAULT '[]',
    shown TEXT NOT NULL DEFAULT '',
    answer TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL
);

CREATE INDEX lab_answers_streaming ON lab_answers (status, lease_until);
CREATE INDEX lab_answers_learner ON lab_answers (learner_id, created_at);

-- lab_turns gains the status 'interrupted' (a restart or a crash ended the answer): SQLite cannot
-- alter a CHECK constraint, so the table is rebuilt with its rows.
CREATE TABLE lab_turns_rebuilt (
    id INTEGER PRIMARY KEY,
    thread_id INTEGER NOT NULL REFERENCES lab_threads (id),
    event_id TEXT NOT NULL UNIQUE,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('complete', 'partial', 'stopped', 'failed', 'interrupted')),
    error TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    cache_read_tokens INTEGER NOT NULL DEFAULT 0,
    cache_write_tokens INTEGER NOT NULL DEFAULT 0,
    ttft_ms REAL,
    duration_ms REAL,
    stop_reason TEXT,
    model TEXT NOT NULL DEFAULT ''
);

INSERT INTO lab_turns_rebuilt (id, thread_id, event_id, question, answer, status, error, created_at, input_tokens,
    output_tokens, cache_read_tokens, cache_write_tokens, ttft_ms, duration_ms, stop_reason, model)
SELECT id, thread_id, event_id, question, answer, status, error, created_at, input_tokens,
    output_tokens, cache_read_tokens, cache_write_tokens, ttft_ms, duration_ms, stop_reason, model
FROM lab_turns;

DROP TABLE lab_turns;
ALTER TABLE lab_turns_rebuilt RENAME TO lab_turns;
CREATE INDEX lab_turns_thread ON lab_turns (thread_id);
CREATE INDEX lab_turns_created ON lab_turns (created_at);

-- The order questions and options are shown in for an attempt (0: the content's order, for
-- attempts started before this migration).
ALTER TABLE test_attempts ADD COLUMN seed INTEGER NOT NULL DEFAULT 0;
