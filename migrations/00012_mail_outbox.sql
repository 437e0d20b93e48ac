-- +goose Up
-- The transactional outbox of mail. A mail is written in the statement that
-- makes the change it announces (a token, an address change), so it exists
-- exactly when that change does; a worker in every instance claims due rows
-- (FOR UPDATE SKIP LOCKED), sends them and records the outcome here.
--
-- payload is the whole mail (link and code included) sealed with AES-256-GCM
-- under a key derived from AUTHGATE_REFRESH_TOKEN_SECRET: a reset token never
-- sits here readable. It is cleared once the mail is sent or has failed for
-- good. template, recipient and user_id stay readable for routing, audit and
-- operators; they are no secret. No foreign key on user_id: a mail may
-- outlive its account's deletion, like the audit trail.
CREATE TABLE auth.mail_outbox (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    template        text NOT NULL,
    recipient       text NOT NULL,
    user_id         uuid,
    payload         bytea,
    created_at      timestamptz NOT NULL,
    -- When the mail is next due. A claim moves it one lease ahead, so that
    -- a worker that dies while sending leaves the mail due again later.
    next_attempt_at timestamptz NOT NULL,
    -- Claims so far; a worker records its outcome only for its own claim.
    attempts        integer NOT NULL DEFAULT 0,
    last_error      text,
    sent_at         timestamptz,
    failed_at       timestamptz,
    CHECK (sent_at IS NULL OR failed_at IS NULL),
    -- A pending mail has its payload; a finished one has none.
    CHECK ((payload IS NOT NULL) = (sent_at IS NULL AND failed_at IS NULL))
);

-- Workers claim the oldest due pending mail; the index holds pending mails
-- only, so it stays as small as the queue however many mails were sent.
CREATE INDEX mail_outbox_due_idx ON auth.mail_outbox (next_attempt_at, id)
    WHERE sent_at IS NULL AND failed_at IS NULL;
-- The purge deletes finished mails by age.
CREATE INDEX mail_outbox_finished_idx ON auth.mail_outbox (COALESCE(sent_at, failed_at))
    WHERE sent_at IS NOT NULL OR failed_at IS NOT NULL;

-- +goose Down
DROP TABLE auth.mail_outbox;
