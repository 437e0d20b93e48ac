-- +goose Up
-- Per-user custom Hasura claims (x-hasura-* names, string values), copied into
-- every access token's claims namespace.
ALTER TABLE auth.users
    ADD COLUMN custom_claims jsonb NOT NULL DEFAULT '{}'::jsonb
        CHECK (jsonb_typeof(custom_claims) = 'object');

-- +goose Down
ALTER TABLE auth.users DROP COLUMN custom_claims;
