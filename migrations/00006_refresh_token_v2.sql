-- +goose Up
-- Refresh tokens of format 2 (see internal/refreshtoken): a rotation is
-- generation + 1 on the session row, found by its primary key, and touches no
-- indexed column, so PostgreSQL can make it a heap-only (HOT) update.
--
-- Room on every page for the new row versions of HOT updates. Set first: the
-- rewrite below (a volatile default) lays every existing row out with it.
ALTER TABLE auth.sessions SET (fillfactor = 80);

-- token_secret: the session's secret S, only ever in this row; existing
-- sessions get one from PostgreSQL's strong random source (two v4 UUIDs:
-- 244 random bits). generation: rotations so far. rotated_client: who made
-- the last rotation (a hash of the user agent and address prefix, never the
-- address), so only that client may replay within grace; replays: how many
-- grace replays that rotation has given.
ALTER TABLE auth.sessions
    ADD COLUMN token_secret   bytea NOT NULL
        DEFAULT (uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()))
        CHECK (octet_length(token_secret) = 32),
    ADD COLUMN generation     bigint NOT NULL DEFAULT 0 CHECK (generation >= 0),
    ADD COLUMN rotated_client bytea,
    ADD COLUMN replays        integer NOT NULL DEFAULT 0;
-- The application always supplies S (from its injected random reader).
ALTER TABLE auth.sessions ALTER COLUMN token_secret DROP DEFAULT;

-- Format-1 tokens: sessions opened before this migration keep the hash of
-- their current token (a rotation no longer changes it), so a deployed client
-- can still refresh into format 2. New sessions have none, and stay out of
-- the (now partial) index.
ALTER TABLE auth.sessions ALTER COLUMN refresh_token_hash DROP NOT NULL;
ALTER TABLE auth.sessions DROP CONSTRAINT sessions_refresh_token_hash_key;
CREATE UNIQUE INDEX sessions_refresh_token_hash_key ON auth.sessions (refresh_token_hash)
    WHERE refresh_token_hash IS NOT NULL;

-- expires_at moves with every rotation: an index on it would make every
-- rotation a non-HOT update. The purge finds sessions past their absolute
-- limit by max_expires_at (set once), revoked ones by revoked_at, and idle
-- ones by a bounded sweep in primary-key order.
DROP INDEX auth.sessions_expires_at_idx;
CREATE INDEX sessions_max_expires_at_idx ON auth.sessions (max_expires_at);

-- +goose Down
-- Sessions without a format-1 hash cannot be refreshed by the older code.
DELETE FROM auth.sessions WHERE refresh_token_hash IS NULL;
DROP INDEX auth.sessions_max_expires_at_idx;
CREATE INDEX sessions_expires_at_idx ON auth.sessions (expires_at);
DROP INDEX auth.sessions_refresh_token_hash_key;
ALTER TABLE auth.sessions ADD CONSTRAINT sessions_refresh_token_hash_key UNIQUE (refresh_token_hash);
ALTER TABLE auth.sessions ALTER COLUMN refresh_token_hash SET NOT NULL;
ALTER TABLE auth.sessions
    DROP COLUMN replays,
    DROP COLUMN rotated_client,
    DROP COLUMN generation,
    DROP COLUMN token_secret;
ALTER TABLE auth.sessions RESET (fillfactor);
