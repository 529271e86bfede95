-- Lab turn metrics (tokens, latency, why the answer stopped, which model) and indexes for
-- the per-learner reads (progress pages) and per-lesson reads (respondents, statistics).

ALTER TABLE lab_turns ADD COLUMN input_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE lab_turns ADD COLUMN output_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE lab_turns ADD COLUMN cache_read_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE lab_turns ADD COLUMN cache_write_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE lab_turns ADD COLUMN ttft_ms DOUBLE PRECISION;
ALTER TABLE lab_turns ADD COLUMN duration_ms DOUBLE PRECISION;
ALTER TABLE lab_turns ADD COLUMN stop_reason TEXT;
ALTER TABLE lab_turns ADD COLUMN model TEXT NOT NULL DEFAULT '';

CREATE INDEX lab_turns_thread ON lab_turns (thread_id);
CREATE INDEX lab_threads_learner ON lab_threads (learner_id, module, lab);
CREATE INDEX lesson_views_learner ON lesson_views (learner_id, module);
CREATE INDEX test_attempts_learner ON test_attempts (learner_id, module);
CREATE INDEX quiz_answers_question ON quiz_answers (module, lesson, question_id);
