-- A job's history no longer keeps its environment's values (api::job_input::hide_env_values):
-- env values are where secrets go, and the events are kept for as long as the job and read by
-- whoever may view it. This hides the values the events recorded before: in a `created` event's
-- definition, and on both sides of an edit's `env` change. The names stay.
create function berth_env_hidden(env jsonb) returns jsonb language sql immutable as $$
    select case when jsonb_typeof(env) = 'object'
                then coalesce((select jsonb_object_agg(k, to_jsonb('(not recorded)'::text)) from jsonb_object_keys(env) k), '{}')
                else env end
$$;

update job_events
set changes = jsonb_set(changes, '{definition,env}', berth_env_hidden(changes -> 'definition' -> 'env'))
where jsonb_typeof(changes -> 'definition' -> 'env') = 'object';

update job_events
set changes = jsonb_set(jsonb_set(changes, '{env,from}', berth_env_hidden(changes -> 'env' -> 'from')),
                        '{env,to}', berth_env_hidden(changes -> 'env' -> 'to'))
where jsonb_typeof(changes -> 'env') = 'object' and changes -> 'env' ? 'from' and changes -> 'env' ? 'to';

drop function berth_env_hidden(jsonb);
