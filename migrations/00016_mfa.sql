-- +goose Up
-- Second factors and passkeys (issue 16).
--
-- Every session records how its sign-in was proven: amr (RFC 8176 method
-- names, e.g. {pwd}, {pwd,otp}, {hwk}) and auth_level (1: one factor; 2: two
-- factors, or a passkey with user verification). A refresh keeps both: the
-- access tokens of a session carry them to Hasura. Sessions opened before
-- this migration were password sign-ins: the column's first default gives
-- them {pwd} without rewriting the table (a constant default is stored once,
-- in the catalogue); the default then becomes {} so that no later insert
-- claims a method it did not prove.
ALTER TABLE auth.sessions
    ADD COLUMN amr        text[]   NOT NULL DEFAULT '{pwd}',
    ADD COLUMN auth_level smallint NOT NULL DEFAULT 1 CHECK (auth_level IN (1, 2));
ALTER TABLE auth.sessions ALTER COLUMN amr SET DEFAULT '{}';

-- A user's TOTP (RFC 6238) secret, sealed (AES-256-GCM under a key derived
-- from AUTHGATE_MFA_ENCRYPTION_KEY, bound to the user): never readable here.
-- confirmed_at is null while an enrolment waits for its first code; TOTP is
-- on once it is set. last_used_step is the time step of the last accepted
-- code: a code is accepted only for a later step, so each code works once
-- and no code older than the last one works at all.
CREATE TABLE auth.user_totp (
    user_id        uuid PRIMARY KEY REFERENCES auth.users (id) ON DELETE CASCADE,
    secret_sealed  bytea NOT NULL,
    created_at     timestamptz NOT NULL,
    confirmed_at   timestamptz,
    last_used_step bigint
);

-- Recovery codes: only a keyed hash (HMAC-SHA-256) of each; a code works
-- once (used_at). A new set replaces the old one whole.
CREATE TABLE auth.mfa_recovery_codes (
    user_id    uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    code_hash  bytea NOT NULL,
    created_at timestamptz NOT NULL,
    used_at    timestamptz,
    PRIMARY KEY (user_id, code_hash)
);

-- Passkeys (WebAuthn credentials). credential is the verified credential as
-- the WebAuthn library records it (public key, flags, attestation), JSON;
-- sign_count is kept beside it so that its check-and-advance is one
-- conditional UPDATE: a counter that does not move forward refuses the
-- credential (a cloned authenticator).
CREATE TABLE auth.passkeys (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id       uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    credential_id bytea NOT NULL UNIQUE,
    credential    jsonb NOT NULL,
    sign_count    bigint NOT NULL DEFAULT 0,
    name          text NOT NULL,
    created_at    timestamptz NOT NULL,
    last_used_at  timestamptz
);
CREATE INDEX passkeys_user_id_idx ON auth.passkeys (user_id);

-- WebAuthn ceremonies between begin and finish: the library's session data
-- (challenge, RP ID, allowed credentials, user verification), found by the
-- SHA-256 of the challenge the client signs, and consumed once by one
-- UPDATE … WHERE used_at IS NULL AND expires_at > now RETURNING. user_id is
-- the registering user, or null for a sign-in.
CREATE TABLE auth.webauthn_ceremonies (
    challenge_hash bytea PRIMARY KEY,
    kind           text NOT NULL CHECK (kind IN ('registration', 'signin')),
    user_id        uuid REFERENCES auth.users (id) ON DELETE CASCADE,
    session_data   jsonb NOT NULL,
    created_at     timestamptz NOT NULL,
    expires_at     timestamptz NOT NULL,
    used_at        timestamptz
);
CREATE INDEX webauthn_ceremonies_expires_at_idx ON auth.webauthn_ceremonies (expires_at);

-- +goose Down
DROP TABLE auth.webauthn_ceremonies;
DROP TABLE auth.passkeys;
DROP TABLE auth.mfa_recovery_codes;
DROP TABLE auth.user_totp;
ALTER TABLE auth.sessions DROP COLUMN auth_level, DROP COLUMN amr;
