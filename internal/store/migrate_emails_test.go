package store_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"testing"

	"authgate/internal/pgtest"
	"authgate/internal/store"
)

// Migration 00007 brings stored addresses to the normal form sign-in now
// uses, and never merges accounts: an address whose normal form another
// account has (or that several share), or that the normal form refuses,
// stays as it is and is reported in the audit trail.
func TestMigrationNormalisesStoredEmailsWithoutMergingAccounts(t *testing.T) {
	ctx := context.Background()
	db := databaseAtMigration(t, 6)
	stored := map[string]string{ // name → address as an older version stored it
		"nfd":            "jo\u0308rg@example.com",
		"unicode domain": "ann@b\u00fccher.example",
		"already normal": "plain@example.com",
		"taken nfc":      "\u00e9ve@example.com",
		"taken nfd":      "e\u0301ve@example.com",
		"twin 1":         "zoe\u0308@b\u00fccher.example",
		"twin 2":         "zo\u00eb@bu\u0308cher.example",
		"mixed script":   "p\u0430ypal@example.com",
	}
	ids := map[string]string{}
	for name, email := range stored {
		var id string
		if err := db.QueryRow(`INSERT INTO auth.users (email, password_hash, default_role, allowed_roles, created_at, updated_at)
			VALUES ($1, 'x', 'user', '{user}', now(), now()) RETURNING id`, email).Scan(&id); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		ids[name] = id
	}
	if _, err := store.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"nfd":            "j\u00f6rg@example.com",
		"unicode domain": "ann@xn--bcher-kva.example",
		"already normal": "plain@example.com",
		"taken nfc":      "\u00e9ve@example.com",
		"taken nfd":      "e\u0301ve@example.com", // left for an administrator
		"twin 1":         "zoe\u0308@b\u00fccher.example",
		"twin 2":         "zo\u00eb@bu\u0308cher.example",
		"mixed script":   "p\u0430ypal@example.com",
	}
	for name, id := range ids {
		var email string
		if err := db.QueryRow(`SELECT email FROM auth.users WHERE id = $1`, id).Scan(&email); err != nil {
			t.Fatal(err)
		}
		if email != want[name] {
			t.Errorf("%s: %+q after the migration, want %+q", name, email, want[name])
		}
	}
	events := map[string]string{}
	rows, err := db.Query(`SELECT user_id, event, detail FROM auth.audit_events WHERE event LIKE 'email%'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, event string
		var detail []byte
		if err := rows.Scan(&id, &event, &detail); err != nil {
			t.Fatal(err)
		}
		var d map[string]any
		if err := json.Unmarshal(detail, &d); err != nil {
			t.Fatal(err)
		}
		for name, uid := range ids {
			if uid == id {
				events[name] = event
				if event == "email_not_normalized" && d["reason"] == "" {
					t.Errorf("%s: reported without a reason: %s", name, detail)
				}
			}
		}
	}
	wantEvents := map[string]string{
		"nfd": "email_normalized", "unicode domain": "email_normalized",
		"taken nfd": "email_not_normalized", "twin 1": "email_not_normalized", "twin 2": "email_not_normalized",
		"mixed script": "email_not_normalized",
	}
	if len(events) != len(wantEvents) {
		t.Errorf("reported %v, want %v", events, wantEvents)
	}
	for name, e := range wantEvents {
		if events[name] != e {
			t.Errorf("%s: reported %q, want %q", name, events[name], e)
		}
	}
}

// databaseAtMigration is a fresh database (superuser) whose auth schema is
// migrated up to version only, for a test of the migrations after it.
func databaseAtMigration(t *testing.T, version int64) *sql.DB {
	t.Helper()
	db := superuser(t, pgtest.NewDatabase(t))
	mustExec(t, db, `DROP SCHEMA auth CASCADE`)
	if _, err := store.MigrateTo(context.Background(), db, version); err != nil {
		t.Fatal(err)
	}
	return db
}
