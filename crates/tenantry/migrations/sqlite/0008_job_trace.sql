-- The span that enqueued a job (see the PostgreSQL migration of the same number).
ALTER TABLE jobs ADD COLUMN trace_parent TEXT CHECK (length(trace_parent) <= 64);
