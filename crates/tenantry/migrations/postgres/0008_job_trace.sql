-- The span that enqueued a job (a W3C `traceparent`), so the job's spans
-- hang off the exact span of the request that asked for it.
ALTER TABLE jobs ADD COLUMN trace_parent text CHECK (length(trace_parent) <= 64);
