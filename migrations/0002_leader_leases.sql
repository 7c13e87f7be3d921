-- Leader election: one row per election, never deleted, so `term` (the
-- fencing token) only grows. Written only with the database clock.

CREATE TABLE leader_leases (
  election    text PRIMARY KEY CHECK (length(election) BETWEEN 1 AND 128),
  holder      text NOT NULL,
  term        bigint NOT NULL CHECK (term > 0),
  acquired_at timestamptz NOT NULL,
  renewed_at  timestamptz NOT NULL,
  expires_at  timestamptz NOT NULL
);
