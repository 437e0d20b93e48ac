-- +goose Up
-- Identity providers (issue 15): which provider account signs in which user.

-- (provider, subject) is the provider's stable name of its user: one user
-- per provider account, and one account per provider per user (a second
-- Google account cannot be linked beside the first). email is the address
-- the provider asserted when the identity was linked (null: none), kept for
-- the user to recognise the identity by; it decides nothing. Deleting a
-- user deletes its identities.
CREATE TABLE auth.identities (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id    uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    provider   text NOT NULL CHECK (provider <> ''),
    subject    text NOT NULL CHECK (subject <> ''),
    email      text,
    created_at timestamptz NOT NULL,
    CONSTRAINT identities_provider_subject_key UNIQUE (provider, subject),
    CONSTRAINT identities_user_id_provider_key UNIQUE (user_id, provider)
);

-- A user made by a provider (or by a first emailed sign-in) has no password
-- until it sets one through the password-reset flow: null, the one way to
-- say so. Email sign-ins made such users with '' before; they become null.
ALTER TABLE auth.users ALTER COLUMN password_hash DROP NOT NULL;
UPDATE auth.users SET password_hash = NULL WHERE password_hash = '';
ALTER TABLE auth.users ADD CONSTRAINT users_password_hash_not_empty CHECK (password_hash <> '');

-- +goose Down
ALTER TABLE auth.users DROP CONSTRAINT users_password_hash_not_empty;
UPDATE auth.users SET password_hash = '' WHERE password_hash IS NULL;
ALTER TABLE auth.users ALTER COLUMN password_hash SET NOT NULL;
DROP TABLE auth.identities;
