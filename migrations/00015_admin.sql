-- +goose Up
-- Administration (issue 18): who did an administrative action, the indexes
-- the admin API's lists need, and what is left of a deleted user.

-- actor: who made the change an event records, when it was an administrator:
-- 'admin_secret' (the admin API's shared secret), 'cli' (the command line),
-- or the administrator's user id. Null for what users do themselves.
ALTER TABLE auth.audit_events ADD COLUMN actor text;

-- The admin API pages through users newest first, and through the trail
-- newest first (by at, then id), filtered by event or by actor.
CREATE INDEX users_created_at_id_idx ON auth.users (created_at, id);
CREATE INDEX audit_events_at_id_idx ON auth.audit_events (at, id);
CREATE INDEX audit_events_event_at_idx ON auth.audit_events (event, at);
CREATE INDEX audit_events_actor_at_idx ON auth.audit_events (actor, at) WHERE actor IS NOT NULL;
-- The trail of one session (the console's user page links them).
CREATE INDEX audit_events_session_id_idx ON auth.audit_events (session_id) WHERE session_id IS NOT NULL;

-- A deleted user's id and email. Its audit rows stay (they have no foreign
-- key), and are found by the email it had; every token it held stays dead
-- (the revocation check and the instances' feed read this table as a
-- cut-off at deleted_at). The purge deletes a row once the audit rows it
-- names are past their retention and no token of the user can be live.
CREATE TABLE auth.deleted_users (
    id         uuid PRIMARY KEY,
    email      text NOT NULL,
    deleted_at timestamptz NOT NULL,
    actor      text
);
CREATE INDEX deleted_users_email_idx ON auth.deleted_users (email);
CREATE INDEX deleted_users_deleted_at_idx ON auth.deleted_users (deleted_at);

-- The unban trigger records who lifted the ban and from where, when the
-- statement says so (the store sets these for the transaction).
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION auth.audit_unban() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO auth.audit_events (at, event, user_id, detail, actor, ip, user_agent)
    VALUES (NEW.updated_at, 'unbanned', NEW.id, jsonb_build_object('was_banned_until', OLD.banned_until),
            NULLIF(current_setting('authgate.actor', true), ''),
            NULLIF(current_setting('authgate.ip', true), ''),
            NULLIF(current_setting('authgate.user_agent', true), ''));
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION auth.audit_unban() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO auth.audit_events (at, event, user_id, detail)
    VALUES (NEW.updated_at, 'unbanned', NEW.id, jsonb_build_object('was_banned_until', OLD.banned_until));
    RETURN NULL;
END
$$;
-- +goose StatementEnd
DROP TABLE auth.deleted_users;
DROP INDEX auth.audit_events_session_id_idx;
DROP INDEX auth.audit_events_actor_at_idx;
DROP INDEX auth.audit_events_event_at_idx;
DROP INDEX auth.audit_events_at_id_idx;
DROP INDEX auth.users_created_at_id_idx;
ALTER TABLE auth.audit_events DROP COLUMN actor;
