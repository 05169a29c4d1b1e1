-- Opens the admission snapshot: one consistent, read-only view of the whole cycle's reads.
begin isolation level repeatable read, read only
