-- A checkpoint: writes back every page the fill and the lists dirtied, so that the probes after
-- them do not share the disk with the write-back of 1,000,000 jobs and 3,000,000 runs (the
-- checkpoint that would otherwise come within checkpoint_timeout of the fill). Needs a superuser
-- or the pg_checkpoint role (benchmark databases). No parameters, no row locks.
checkpoint
