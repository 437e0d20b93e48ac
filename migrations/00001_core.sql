-- +goose Up
-- authgate keeps everything in the auth schema, so it can share a database with
-- the Hasura app's own tables without touching them. The schema itself is
-- created before goose runs (goose keeps its version table in it).

CREATE TABLE auth.users (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- Stored lower-cased and trimmed: emails match case-insensitively.
    email         text NOT NULL UNIQUE CHECK (email <> '' AND email = lower(btrim(email))),
    -- A PHC string (argon2id, or an imported bcrypt hash); never the password.
    password_hash text NOT NULL,
    default_role  text NOT NULL,
    allowed_roles text[] NOT NULL,
    disabled      boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    CHECK (default_role = ANY (allowed_roles))
);

CREATE TABLE auth.sessions (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id            uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    -- Keyed hash (HMAC-SHA-256) of the current refresh token; the token itself is never stored.
    refresh_token_hash bytea NOT NULL UNIQUE,
    -- When the previous token was retired: starts its grace window.
    rotated_at         timestamptz,
    description        text,
    user_agent         text,
    ip                 text,
    -- The original login: rotations never move it.
    created_at         timestamptz NOT NULL,
    last_activity_at   timestamptz NOT NULL,
    -- Sliding expiry, never past max_expires_at (the absolute session lifetime).
    expires_at         timestamptz NOT NULL,
    max_expires_at     timestamptz NOT NULL,
    revoked_at         timestamptz,
    revoked_reason     text,
    CHECK (expires_at <= max_expires_at)
);

CREATE INDEX sessions_user_id_created_at_idx ON auth.sessions (user_id, created_at DESC);

-- Every retired refresh token, so that a replay of any of them (not just the
-- last) is recognised as theft. No foreign key: rows are only looked up by
-- hash, and the purge removes them once their session could no longer be alive.
CREATE TABLE auth.retired_refresh_tokens (
    token_hash bytea PRIMARY KEY,
    session_id uuid NOT NULL,
    retired_at timestamptz NOT NULL
);

-- +goose Down
DROP TABLE auth.retired_refresh_tokens;
DROP TABLE auth.sessions;
DROP TABLE auth.users;
