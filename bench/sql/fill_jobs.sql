-- One slice of the `lists` scenario's jobs: ids $1 to $2 of $3 jobs, of which $4 are stored
-- definitions spread evenly over the ids (job g is stored when g * $4 / $3 steps up: exactly $4 of
-- them) and the rest one-off jobs as uploads leave them (named `<service>-<user>`, no labels). A
-- stored job is named from its team, pipeline, object, cadence and a date, e.g.
-- `fraud-score transactions nightly 2025-03-14 v412` (unique: the date and the version come from the
-- id), and labelled with its team, cadence and tier. About one stored job in 10,000 has the object
-- `zeppelin` (the rare word) and one in 1,000 the tier `canary` (the rare label). Job g is created
-- at $8 - $9 seconds + g / $3 of that span, so ids follow time. The one-off jobs among the first
-- hundredth of the ids whose id ends in 3 belong to the user `departed`, who has no later run; the
-- others are `user-<n>` for n below $5. Every other choice is a hash of the id with seed $7, so a
-- fill is the same every time. Destructive only in what it adds: benchmark databases only.
-- $1 first id, $2 last id, $3 jobs, $4 stored jobs, $5 users, $6 namespaces text[], $7 seed,
-- $8 end of the history (timestamptz), $9 its span in seconds. No row locks (inserts).
with base as (
    select g,
           (g * $4::bigint) / $3::bigint <> ((g - 1) * $4::bigint) / $3::bigint as stored,
           $8::timestamptz - ($9::float8 * (1 - g::float8 / $3::bigint)) * interval '1 second' as created_at,
           hashint8extended(g, $7::bigint) & 9223372036854775807 as h1,
           hashint8extended(g, $7::bigint + 1) & 9223372036854775807 as h2,
           hashint8extended(g, $7::bigint + 2) & 9223372036854775807 as h3,
           hashint8extended(g, $7::bigint + 3) & 9223372036854775807 as h4
    from generate_series($1::bigint, $2::bigint) g
), words as (
    select b.*,
           case when not b.stored and b.g <= greatest($3::bigint / 100, 10) and b.g % 10 = 3 then 'departed'
                else 'user-' || (b.h1 % $5::bigint) end as user_id,
           ($6::text[])[1 + b.h2 % cardinality($6::text[])] as namespace,
           (array['ml', 'data', 'web', 'ops', 'finance', 'search', 'ads', 'risk', 'fraud', 'growth', 'infra',
                  'mobile', 'payments', 'billing', 'identity', 'support', 'logistics', 'security', 'research',
                  'analytics'])[1 + b.h3 % 20] as team,
           (array['etl', 'train', 'ingest', 'export', 'backfill', 'report', 'reindex', 'aggregate', 'compact',
                  'sync', 'snapshot', 'validate', 'score', 'embed', 'dedupe', 'rollup', 'archive', 'migrate',
                  'render', 'crawl', 'forecast', 'reconcile', 'publish', 'scan', 'evaluate'])[1 + b.h3 / 20 % 25]
               as pipeline,
           case when b.h4 % 10000 = 0 then 'zeppelin'
                else (array['orders', 'customers', 'clicks', 'sessions', 'invoices', 'events', 'images', 'models',
                            'features', 'transactions', 'accounts', 'logs', 'metrics', 'shipments', 'products',
                            'reviews', 'tickets', 'payouts', 'refunds', 'ledger', 'inventory', 'campaigns',
                            'embeddings', 'documents', 'videos', 'queries', 'alerts', 'devices', 'contracts',
                            'partners', 'prices', 'stores', 'routes', 'drivers', 'vendors', 'users', 'carts',
                            'audits', 'backups', 'reports'])[1 + b.h4 / 10000 % 40] end as object,
           (array['daily', 'hourly', 'weekly', 'nightly', 'adhoc'])[1 + b.h4 / 400000 % 5] as cadence,
           case when b.h2 / 1000 % 1000 = 0 then 'canary' else (array['prod', 'dev'])[1 + b.h2 / 1000 % 2] end
               as tier
    from base b
)
insert into jobs (id, name, description, kind, service, namespace, user_id, priority, flow, cpu, memory, pods,
                  storage, command, max_attempts, tags, created_by, created_at, updated_at, one_off)
select w.g,
       case when w.stored
            then w.team || '-' || w.pipeline || ' ' || w.object || ' ' || w.cadence || ' '
                 || to_char(date '2024-01-01' + (w.g % 1500)::int, 'YYYY-MM-DD') || ' v' || (w.g / 1500 + 1)
            else 'bench-' || w.user_id end,
       case when w.stored then w.pipeline || ' of the ' || w.team || ' team' else '' end,
       'batch', 'bench', w.namespace, w.user_id,
       case when w.h1 / 7 % 10 = 0 then 'high' else 'normal' end,
       case when w.h1 / 70 % 10 = 0 then 'legacy' else 'priority' end,
       250 * (1 + w.h2 / 7 % 8), 256 * (1 + w.h2 / 70 % 8), 1, 0,
       case when w.stored then '["true"]'::jsonb end,
       case when w.h3 / 500 % 4 = 0 then 3 else 1 end,
       case when w.stored then jsonb_build_object('team', w.team, 'cadence', w.cadence, 'tier', w.tier)
            else '{}'::jsonb end,
       w.user_id, w.created_at, w.created_at, not w.stored
from words w
order by w.g
