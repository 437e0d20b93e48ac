package store_test

import (
	"context"
	"testing"
	"time"

	"authgate/internal/auth"
)

// A deleted user's tombstone stays while its audit rows do and while a
// token of it could be live; then the purge deletes it.
func TestPurgeKeepsADeletedUsersTombstoneWhileItMatters(t *testing.T) {
	st := openThrottleStore(t)
	ctx := context.Background()
	deleted := throttleT0.Add(-10 * 24 * time.Hour)
	if _, err := st.DB().Exec(`INSERT INTO auth.deleted_users (id, email, deleted_at) VALUES
		('00000000-0000-4000-8000-000000000001', 'old@example.com', $1),
		('00000000-0000-4000-8000-000000000002', 'new@example.com', $2)`, deleted, throttleT0.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	policy := auth.PurgePolicy{Now: throttleT0, BatchSize: 1000, KeepRevokedFor: time.Hour}
	policy.AuditRetention = 30 * 24 * time.Hour // the old one's audit rows are kept: so is it
	if res, err := st.Purge(ctx, policy); err != nil || res.DeletedUsers != 0 {
		t.Fatalf("within the audit retention: %+v, %v", res, err)
	}
	policy.AuditRetention = 7 * 24 * time.Hour
	if res, err := st.Purge(ctx, policy); err != nil || res.DeletedUsers != 1 {
		t.Fatalf("past the audit retention: %+v, %v", res, err)
	}
	policy.AuditRetention = time.Second // the new one's tokens may still be live
	if res, err := st.Purge(ctx, policy); err != nil || res.DeletedUsers != 0 {
		t.Fatalf("within a token's lifetime: %+v, %v", res, err)
	}
	var left string
	if err := st.DB().Get(&left, `SELECT email FROM auth.deleted_users`); err != nil || left != "new@example.com" {
		t.Fatalf("left %q (%v)", left, err)
	}
}
