-- Bounds how long a leader transaction kept open across other work (prepared schedule fires) may
-- sit idle: past $1 milliseconds the server ends its session and rolls it back, so a leader process
-- that froze with it open (its locks on schedule rows) does not hold the next leader up for longer.
-- For this transaction only. No row locks.
select set_config('idle_in_transaction_session_timeout', $1::text, true)
