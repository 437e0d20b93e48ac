-- +goose Up
-- Revocation that bites at once.
--
-- valid_after: the per-user cut-off. Every session, refresh token and access
-- token issued before it is dead: one row update revokes them all.
-- banned_until: until then the user cannot sign in or refresh.
ALTER TABLE auth.users
    ADD COLUMN valid_after  timestamptz,
    ADD COLUMN banned_until timestamptz,
    ADD COLUMN ban_reason   text;

-- Instances load recent cut-offs and session revocations at start.
CREATE INDEX users_valid_after_idx ON auth.users (valid_after) WHERE valid_after IS NOT NULL;
CREATE INDEX sessions_revoked_at_idx ON auth.sessions (revoked_at) WHERE revoked_at IS NOT NULL;
-- The purge finds dead sessions by expiry.
CREATE INDEX sessions_expires_at_idx ON auth.sessions (expires_at);
CREATE INDEX retired_refresh_tokens_retired_at_idx ON auth.retired_refresh_tokens (retired_at);

-- Single revoked access tokens. A row only lives while its token would
-- otherwise be valid: the purge removes it once expires_at has passed.
CREATE TABLE auth.revoked_access_tokens (
    jti        text PRIMARY KEY,
    user_id    uuid,
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz NOT NULL
);
CREATE INDEX revoked_access_tokens_expires_at_idx ON auth.revoked_access_tokens (expires_at);

-- +goose Down
DROP TABLE auth.revoked_access_tokens;
DROP INDEX auth.retired_refresh_tokens_retired_at_idx;
DROP INDEX auth.sessions_expires_at_idx;
DROP INDEX auth.sessions_revoked_at_idx;
DROP INDEX auth.users_valid_after_idx;
ALTER TABLE auth.users DROP COLUMN ban_reason, DROP COLUMN banned_until, DROP COLUMN valid_after;
