-- Makes the current transaction one consistent read-only snapshot (the admission snapshot).
set transaction isolation level repeatable read, read only
