-- The word similarity a name needs to match a search (`q <% name`), for the current transaction
-- only (store/lists.rs: WORD_SIMILARITY). $1 the threshold as text.
-- No row locks.
select set_config('pg_trgm.word_similarity_threshold', $1, true)
