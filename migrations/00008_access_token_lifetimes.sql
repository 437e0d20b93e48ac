-- +goose Up
-- The access-token lifetimes instances issue tokens under, so that every
-- instance remembers revocations (and the purge keeps revocation rows) for
-- as long as the longest-lived token that can still be live, whatever its
-- own AUTHGATE_ACCESS_TOKEN_TTL says. An instance records its lifetime
-- before it issues a token and keeps live_until ahead of the tokens it
-- issues: live_until is the latest expiry a token of this lifetime may
-- have. A lowered TTL stops counting once live_until has passed.
CREATE TABLE auth.access_token_lifetimes (
    lifetime_seconds bigint PRIMARY KEY CHECK (lifetime_seconds > 0),
    live_until       timestamptz NOT NULL
);

-- +goose Down
DROP TABLE auth.access_token_lifetimes;
