-- Stores a new token. $1 hash (sha-256 of the secret), $2 subject, $3 kind ('user' | 'service'),
-- $4 groups (text[]), $5 admin, $6 may act for others, $7 expires at (nullable), $8 created by.
-- No row locks. Returns the new row's id and creation time.
insert into tokens (hash, subject, kind, groups, admin, may_act_for_others, expires_at, created_by)
values ($1, $2, $3, $4, $5, $6, $7, $8)
returning id, created_at
