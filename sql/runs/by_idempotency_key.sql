-- The run submitted with an Idempotency-Key, and the fingerprint of that request. $1 key.
-- No row locks.
select id, request_hash from runs where idempotency_key = $1
