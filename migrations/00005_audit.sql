-- +goose Up
-- The security audit trail: one row per event, never a secret (no token, no
-- hash, no password). Rows are written by the statement that makes the change
-- they record; the purge deletes them after AUTHGATE_AUDIT_RETENTION.
--
-- user_id is null for events about no known user (a failed login with an
-- unknown email: detail.email holds the attempted, normalised address). No
-- foreign keys: the trail outlives what it describes.
CREATE TABLE auth.audit_events (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         timestamptz NOT NULL,
    event      text NOT NULL,
    user_id    uuid,
    session_id uuid,
    ip         text,
    user_agent text,
    detail     jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(detail) = 'object')
);

-- A user's trail, oldest first; attempts on an email no user has.
CREATE INDEX audit_events_user_id_at_idx ON auth.audit_events (user_id, at) WHERE user_id IS NOT NULL;
CREATE INDEX audit_events_email_at_idx ON auth.audit_events ((detail ->> 'email'), at) WHERE user_id IS NULL;
-- The purge deletes by age.
CREATE INDEX audit_events_at_idx ON auth.audit_events (at);

-- Lifting a ban and denylisting an access token are recorded by triggers, in
-- the statement that makes the change, whatever path makes it (the CLI, the
-- API, or SQL typed by hand).
-- +goose StatementBegin
CREATE FUNCTION auth.audit_unban() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO auth.audit_events (at, event, user_id, detail)
    VALUES (NEW.updated_at, 'unbanned', NEW.id, jsonb_build_object('was_banned_until', OLD.banned_until));
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER users_audit_unban AFTER UPDATE OF banned_until ON auth.users
    FOR EACH ROW WHEN (OLD.banned_until IS NOT NULL AND NEW.banned_until IS NULL)
    EXECUTE FUNCTION auth.audit_unban();

-- +goose StatementBegin
CREATE FUNCTION auth.audit_access_token_revoked() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO auth.audit_events (at, event, user_id, detail)
    VALUES (NEW.revoked_at, 'access_token_revoked', NEW.user_id,
            jsonb_build_object('jti', NEW.jti, 'expires_at', NEW.expires_at));
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER revoked_access_tokens_audit AFTER INSERT ON auth.revoked_access_tokens
    FOR EACH ROW EXECUTE FUNCTION auth.audit_access_token_revoked();

-- +goose Down
DROP TRIGGER revoked_access_tokens_audit ON auth.revoked_access_tokens;
DROP FUNCTION auth.audit_access_token_revoked();
DROP TRIGGER users_audit_unban ON auth.users;
DROP FUNCTION auth.audit_unban();
DROP TABLE auth.audit_events;
