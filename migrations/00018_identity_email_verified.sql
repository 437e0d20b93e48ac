-- +goose Up
-- Whether the provider asserted the identity's address verified (issue 15,
-- account takeover through an unverified provider email). When an
-- account's address is first proven by mail (verifyEmail, resetPassword,
-- an emailed sign-in), every identity that did not prove that very
-- address (email_verified and email = the account's) is removed in the
-- statement that marks the address verified: until then nothing showed
-- that the identity's owner is the address's.
--
-- Existing rows: what their provider asserted was not kept. An identity
-- counts as verified when its address is the account's and the account's
-- address was verified when the identity was made or linked (made by a
-- provider that vouched for it, linked by a verified address, or linked
-- to an account already proven). Every other one, on an account still
-- unverified, is indistinguishable from the attack and counts as
-- unverified: its account's first proof removes it (its owner can link it
-- again once signed in).
ALTER TABLE auth.identities ADD COLUMN email_verified boolean NOT NULL DEFAULT false;
UPDATE auth.identities i SET email_verified = true
FROM auth.users u
WHERE u.id = i.user_id AND i.email = u.email AND u.email_verified_at IS NOT NULL AND u.email_verified_at <= i.created_at;

-- +goose Down
ALTER TABLE auth.identities DROP COLUMN email_verified;
