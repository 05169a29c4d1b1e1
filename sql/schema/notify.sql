-- Payload-less wake-up on a channel, delivered at commit. $1 channel. No row locks.
select pg_notify($1, '')
