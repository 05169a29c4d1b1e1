drop function berth_queued_fair(text, text, bigint, timestamptz);
