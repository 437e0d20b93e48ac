package store_test

import (
	"context"
	"testing"

	"authgate/internal/store"
)

// Migration 00018 records whether an identity's provider asserted its
// address verified. What older rows' providers asserted was not kept: an
// identity counts as verified when its address is its account's and the
// account's address was verified when the identity was made or linked;
// every other one counts as unverified (on an unverified account it cannot
// be told from an attacker's, and the account's first proof removes it).
func TestMigrationBackfillsWhetherAnIdentityProvedItsAddress(t *testing.T) {
	ctx := context.Background()
	db := databaseAtMigration(t, 17)
	user := func(email, verifiedAt string) string {
		var id string
		if err := db.QueryRow(`INSERT INTO auth.users (email, password_hash, default_role, allowed_roles, created_at, updated_at, email_verified_at)
			VALUES ($1, NULL, 'user', '{user}', '2026-01-01', '2026-01-01', NULLIF($2, '')::timestamptz) RETURNING id`, email, verifiedAt).Scan(&id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	identity := func(userID, provider, email, at string) {
		if _, err := db.Exec(`INSERT INTO auth.identities (user_id, provider, subject, email, created_at) VALUES ($1, $2, $3, NULLIF($4, ''), $5)`,
			userID, provider, provider+"-"+userID, email, at); err != nil {
			t.Fatal(err)
		}
	}
	madeVerified := user("a@example.com", "2026-01-01")
	identity(madeVerified, "google", "a@example.com", "2026-01-01") // made by a provider that vouched for it
	identity(madeVerified, "corp", "a@example.com", "2026-02-01")   // linked to the verified account later
	identity(madeVerified, "gh", "other@example.com", "2026-02-01") // another address
	unverified := user("b@example.com", "")
	identity(unverified, "corp", "b@example.com", "2026-01-01") // the attack's shape
	verifiedLater := user("c@example.com", "2026-03-01")
	identity(verifiedLater, "corp", "c@example.com", "2026-01-01") // made unverified, proven since
	identity(verifiedLater, "gh", "", "2026-01-01")                // no address

	if _, err := store.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	want := map[[2]string]bool{
		{madeVerified, "google"}: true, {madeVerified, "corp"}: true, {madeVerified, "gh"}: false,
		{unverified, "corp"}: false, {verifiedLater, "corp"}: false, {verifiedLater, "gh"}: false,
	}
	for k, w := range want {
		var got bool
		if err := db.QueryRow(`SELECT email_verified FROM auth.identities WHERE user_id = $1 AND provider = $2`, k[0], k[1]).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != w {
			t.Errorf("%s's %s identity: email_verified %v, want %v", k[0], k[1], got, w)
		}
	}
}
