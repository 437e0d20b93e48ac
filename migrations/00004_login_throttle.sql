-- +goose Up
-- Failed password checks, counted per account and per client address, so that
-- every instance enforces the same login throttle.
--
-- scope 'account': subject is the normalised email, whether or not a user has
-- it (so the throttle never tells whether an account exists); scope
-- 'address': the client's IP address (IPv6 by /64).
-- failures counts the failures since window_start; a failure after the window
-- has passed starts a new one. Whether a subject is held back, and until
-- when, is computed from these columns and the configured thresholds when a
-- login is checked, so a change of settings applies at once.
CREATE TABLE auth.login_throttle (
    scope           text NOT NULL CHECK (scope IN ('account', 'address')),
    subject         text NOT NULL,
    failures        integer NOT NULL CHECK (failures > 0),
    window_start    timestamptz NOT NULL,
    last_failure_at timestamptz NOT NULL,
    PRIMARY KEY (scope, subject)
);

-- The purge removes rows that can no longer hold anyone back.
CREATE INDEX login_throttle_last_failure_at_idx ON auth.login_throttle (last_failure_at);

-- +goose Down
DROP TABLE auth.login_throttle;
