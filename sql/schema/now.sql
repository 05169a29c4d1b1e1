-- The instant a leader pass decides from: $1 (a test's fixed clock) or the database clock, so that
-- every replica decides from the same clock. No row locks.
select coalesce($1::timestamptz, now())
