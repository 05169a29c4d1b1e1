-- Creates an empty blob. $1 total size in bytes. No row locks.
insert into blobs (size) values ($1) returning id
