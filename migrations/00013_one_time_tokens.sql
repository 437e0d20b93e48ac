-- +goose Up
-- Email verification, and the one-time secrets of every flow (emailed links
-- and codes, provider sign-in codes, MFA tickets): see internal/onetime.

-- When the user proved they read mail at their address (null: never), and
-- the language their mails are written in (a BCP 47 tag; null: English).
ALTER TABLE auth.users
    ADD COLUMN email_verified_at timestamptz,
    ADD COLUMN locale text CHECK (locale IS NULL OR (locale <> '' AND length(locale) <= 35));

-- One row per token. The token itself is never stored: token_hash is its
-- HMAC-SHA-256 under a key derived from the server secret, and code_hash
-- (the 6-digit code of an emailed sign-in) likewise. A token is consumed by
-- one UPDATE … SET used_at WHERE token_hash AND purpose AND used_at IS NULL
-- AND expires_at > now, so two racing uses cannot both win.
--
-- subject is what "one live token" is counted per, for the purposes where a
-- newer token replaces the older (the user's id, or the address when there
-- is no account yet); null for purposes that allow several at once. The
-- partial unique index makes the replacement one INSERT … ON CONFLICT.
-- email is the address the token was sent to (verify, reset, signin) or
-- the address being changed to (email_change); a sign-in code is looked up
-- by it. attempts counts the codes tried; data is the flow's own payload.
CREATE TABLE auth.one_time_tokens (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    purpose     text NOT NULL CHECK (purpose <> ''),
    user_id     uuid REFERENCES auth.users (id) ON DELETE CASCADE,
    email       text,
    subject     text,
    token_hash  bytea NOT NULL UNIQUE,
    code_hash   bytea,
    attempts    integer NOT NULL DEFAULT 0,
    data        jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);

CREATE UNIQUE INDEX one_time_tokens_live_idx ON auth.one_time_tokens (purpose, subject)
    WHERE used_at IS NULL;
CREATE INDEX one_time_tokens_code_idx ON auth.one_time_tokens (purpose, email)
    WHERE used_at IS NULL AND code_hash IS NOT NULL;
-- The purge deletes tokens by age.
CREATE INDEX one_time_tokens_expires_at_idx ON auth.one_time_tokens (expires_at);
CREATE INDEX one_time_tokens_user_id_idx ON auth.one_time_tokens (user_id);

-- Mail throttles: scope 'mail' counts the mails of one purpose to one
-- address (subject 'purpose:address'), scope 'mail_address' the mail
-- requests of one client address.
ALTER TABLE auth.login_throttle
    DROP CONSTRAINT login_throttle_scope_check,
    ADD CONSTRAINT login_throttle_scope_check CHECK (scope IN ('account', 'address', 'signup', 'mail', 'mail_address'));

-- +goose Down
DELETE FROM auth.login_throttle WHERE scope IN ('mail', 'mail_address');
ALTER TABLE auth.login_throttle
    DROP CONSTRAINT login_throttle_scope_check,
    ADD CONSTRAINT login_throttle_scope_check CHECK (scope IN ('account', 'address', 'signup'));
DROP TABLE auth.one_time_tokens;
ALTER TABLE auth.users DROP COLUMN locale, DROP COLUMN email_verified_at;
