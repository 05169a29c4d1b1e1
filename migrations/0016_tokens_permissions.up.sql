-- Tokens and permissions (issue 13).
--
-- A token is stored only as the SHA-256 of its secret: the secret has 256 random bits, so a fast
-- hash is enough (nothing to brute-force), and the API looks a token up by its hash, the primary
-- key of its lookup, on every request, so a revocation holds on every replica at once.
create table tokens (
    id                 bigserial   primary key,
    hash               bytea       not null unique,
    subject            text        not null check (char_length(subject) between 1 and 255),
    kind               text        not null check (kind in ('user', 'service')),
    groups             text[]      not null default '{}',
    admin              boolean     not null default false,
    -- A service account (a web portal submitting for its users) may name another user.
    may_act_for_others boolean     not null default false check (not may_act_for_others or kind = 'service'),
    expires_at         timestamptz,
    last_used_at       timestamptz,
    revoked_at         timestamptz,
    created_at         timestamptz not null default now(),
    created_by         text        not null
);

-- Per-job permissions granted to a user or a group (`*`: every holder of a valid token) by the
-- job's owner (its created_by) or an admin. Any of them also lets the grantee view the job.
create table job_grants (
    job_id       bigint      not null,
    grantee_kind text        not null check (grantee_kind in ('user', 'group')),
    grantee      text        not null check (char_length(grantee) between 1 and 255),
    permission   text        not null check (permission in ('view', 'run', 'update', 'delete')),
    granted_by   text        not null,
    granted_at   timestamptz not null default now(),
    primary key (job_id, permission, grantee_kind, grantee)
);

-- Per-namespace permissions: `create` (create jobs and upload there) and `view` (see every job
-- and run of the namespace).
create table namespace_grants (
    namespace    text        not null,
    grantee_kind text        not null check (grantee_kind in ('user', 'group')),
    grantee      text        not null check (char_length(grantee) between 1 and 255),
    permission   text        not null check (permission in ('create', 'view')),
    granted_by   text        not null,
    granted_at   timestamptz not null default now(),
    primary key (namespace, permission, grantee_kind, grantee)
);

-- Whether a caller (subject and groups; not an admin: admins are never filtered) holds
-- `permission` on a job: it owns the job, or holds the permission (any permission, for `view`)
-- through a grant to itself, one of its groups or `*`, or (for `view`) may view the namespace.
-- A function in the schema rather than a fragment in sql/: the single checks, the job list, the
-- run list and the queue view all filter with it, and must agree.
create function berth_job_allows(p_job bigint, p_namespace text, p_owner text, p_subject text, p_groups text[],
                                 p_permission text)
returns boolean language sql stable as $$
    select p_owner = p_subject
        or exists (
            select 1 from job_grants g
            where g.job_id = p_job
              and (g.permission = p_permission or p_permission = 'view')
              and ((g.grantee_kind = 'user' and g.grantee = p_subject)
                   or (g.grantee_kind = 'group' and g.grantee = any(p_groups || '*'::text))))
        or (p_permission = 'view' and exists (
            select 1 from namespace_grants n
            where n.namespace = p_namespace and n.permission = 'view'
              and ((n.grantee_kind = 'user' and n.grantee = p_subject)
                   or (n.grantee_kind = 'group' and n.grantee = any(p_groups || '*'::text)))))
$$;
