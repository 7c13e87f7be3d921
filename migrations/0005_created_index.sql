-- The listing index keys on `created` alone. Keyed on (created, id) it was
-- an exact twin of the queue's partial index (tasks_queued_idx) for the
-- claim's `ORDER BY created, id`, and when statistics say every task is
-- queued (a queue filled, analysed, then drained) the planner picked it on
-- a cost tie and walked past every task already claimed: claims grew slower
-- with each one (measured 0.9 → 1.7 ms over 3,000 claims of 40,000). Keyed
-- on `created` it can only serve that order through an extra sort, so the
-- partial index always wins; listings page at the same speed (an
-- incremental sort on the rare equal timestamps), and every write to a
-- task puts 16 bytes less into it.
DROP INDEX tasks_created_idx;
CREATE INDEX tasks_created_idx ON tasks (created);
