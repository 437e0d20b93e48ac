package auth_test

import (
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"fmt"
	"io"
	"testing"
	"time"

	"authgate/internal/auth"
	"authgate/internal/authtest"
	"authgate/internal/config"
	"authgate/internal/pgtest"
	"authgate/internal/refreshtoken"
	"authgate/internal/revocation"
	"authgate/internal/store"
)

// The upgrade tests start from what deployed instances made before refresh
// tokens of format 2: a database at migration 5, with sessions opened and
// rotated by the code of commit f684744, whose key derivation and
// statements are copied below verbatim (only renamed). Then migration 6
// runs, and today's service takes over.

// v1Keys is refreshtoken.Keys of commit f684744.
type v1Keys struct {
	hashKey      []byte
	successorKey []byte
}

func newV1Keys(secret []byte) (v1Keys, error) {
	if len(secret) < 32 {
		return v1Keys{}, fmt.Errorf("refresh token secret must be at least 32 bytes, got %d", len(secret))
	}
	hashKey, err := hkdf.Key(sha256.New, secret, nil, "authgate refresh-token hash v1", 32)
	if err != nil {
		return v1Keys{}, err
	}
	successorKey, err := hkdf.Key(sha256.New, secret, nil, "authgate refresh-token successor v1", 32)
	if err != nil {
		return v1Keys{}, err
	}
	return v1Keys{hashKey: hashKey, successorKey: successorKey}, nil
}

func newV1Token(random io.Reader) (string, error) {
	b := make([]byte, 32)
	if _, err := io.ReadFull(random, b); err != nil {
		return "", fmt.Errorf("reading random bytes: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func (k v1Keys) Hash(token string) []byte {
	m := hmac.New(sha256.New, k.hashKey)
	m.Write([]byte(token))
	return m.Sum(nil)
}

func (k v1Keys) Successor(token string) string {
	m := hmac.New(sha256.New, k.successorKey)
	m.Write([]byte(token))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// v1InsertSession is insertSession of commit f684744.
const v1InsertSession = `
INSERT INTO auth.sessions (user_id, refresh_token_hash, description, user_agent, ip,
                           created_at, last_activity_at, expires_at, max_expires_at)
VALUES ($1, $2, $3, NULLIF($4, ''), NULLIF($5, ''), $6, $6, $7, $8)
RETURNING id, created_at, expires_at`

// v1RotateRefreshToken is rotateRefreshToken of commit f684744: $1 token
// hash, $2 successor hash, $3 now, $4 grace cut-off, $5 sliding expiry, $6
// ip, $7 user agent, $8 now in unix microseconds (for NOTIFY).
const v1RotateRefreshToken = `
WITH found AS (
    SELECT id FROM auth.sessions WHERE refresh_token_hash = $1
    UNION ALL
    SELECT session_id FROM auth.retired_refresh_tokens WHERE token_hash = $1
    LIMIT 1
), cur AS (
    SELECT s.id, s.refresh_token_hash, s.rotated_at, s.created_at, s.expires_at, s.max_expires_at,
           s.revoked_at, u.id AS user_id, u.email, u.default_role, u.allowed_roles, u.disabled,
           u.created_at AS user_created_at, u.custom_claims, u.banned_until, u.valid_after
    FROM auth.sessions s JOIN auth.users u ON u.id = s.user_id
    WHERE s.id = (SELECT id FROM found)
    FOR NO KEY UPDATE OF s
), decided AS (
    SELECT cur.*, CASE
        WHEN cur.disabled OR cur.banned_until > $3 THEN 'disabled'
        WHEN cur.revoked_at IS NOT NULL OR cur.expires_at <= $3 OR cur.max_expires_at <= $3
             OR cur.created_at < cur.valid_after THEN 'dead'
        WHEN cur.refresh_token_hash = $1 THEN 'rotated'
        WHEN cur.refresh_token_hash = $2 AND cur.rotated_at > $4 THEN 'replayed'
        ELSE 'reused'
    END AS outcome
    FROM cur
), upd AS (
    UPDATE auth.sessions s SET
        refresh_token_hash = CASE WHEN d.outcome = 'rotated' THEN $2 ELSE s.refresh_token_hash END,
        rotated_at         = CASE WHEN d.outcome = 'rotated' THEN $3 ELSE s.rotated_at END,
        last_activity_at   = CASE WHEN d.outcome = 'rotated' THEN $3 ELSE s.last_activity_at END,
        expires_at         = CASE WHEN d.outcome = 'rotated' THEN LEAST($5, s.max_expires_at) ELSE s.expires_at END,
        ip                 = CASE WHEN d.outcome = 'rotated' THEN COALESCE(NULLIF($6, ''), s.ip) ELSE s.ip END,
        user_agent         = CASE WHEN d.outcome = 'rotated' THEN COALESCE(NULLIF($7, ''), s.user_agent) ELSE s.user_agent END,
        revoked_at         = CASE WHEN d.outcome = 'reused' THEN $3 ELSE s.revoked_at END,
        revoked_reason     = CASE WHEN d.outcome = 'reused' THEN 'refresh token reused' ELSE s.revoked_reason END
    FROM decided d
    WHERE s.id = d.id AND d.outcome IN ('rotated', 'reused')
    RETURNING s.expires_at
), retire AS (
    INSERT INTO auth.retired_refresh_tokens (token_hash, session_id, retired_at)
    SELECT $1, d.id, $3 FROM decided d WHERE d.outcome = 'rotated'
    ON CONFLICT (token_hash) DO NOTHING
), audit AS (
    INSERT INTO auth.audit_events (at, event, user_id, session_id, ip, user_agent, detail)
    SELECT $3, CASE WHEN d.outcome = 'reused' THEN 'refresh_token_reused' ELSE 'refresh' END,
           d.user_id, d.id, NULLIF($6, ''), NULLIF($7, ''),
           CASE WHEN d.outcome = 'replayed' THEN '{"replayed": true}'::jsonb ELSE '{}'::jsonb END
    FROM decided d WHERE d.outcome IN ('rotated', 'replayed', 'reused')
)
SELECT d.outcome, d.id, d.created_at, COALESCE((SELECT expires_at FROM upd), d.expires_at) AS expires_at,
       d.user_id, d.email, d.default_role, d.allowed_roles, d.user_created_at, d.custom_claims,
       (SELECT count(pg_notify('` + revocation.Channel + `', 's|' || id || '|' || $8)) FROM decided WHERE outcome = 'reused')
FROM decided d`

// v1Deployment is a database used by the code of commit f684744, with
// that code's defaults (30-day sliding expiry, 90-day sessions, 10 s grace).
type v1Deployment struct {
	t    *testing.T
	url  string
	db   *sql.DB
	keys v1Keys
}

// newV1Deployment makes a database at migration 5 whose refresh tokens are
// keyed with secret (before format 2: AUTHGATE_REFRESH_TOKEN_SECRET, else
// the HS JWT key).
func newV1Deployment(t *testing.T, secret []byte) *v1Deployment {
	t.Helper()
	url := pgtest.NewEmptyDatabase(t)
	db, err := sql.Open("postgres", url)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.MigrateTo(context.Background(), db, 5); err != nil {
		t.Fatal(err)
	}
	keys, err := newV1Keys(secret)
	if err != nil {
		t.Fatal(err)
	}
	return &v1Deployment{t: t, url: url, db: db, keys: keys}
}

// user creates a user and returns its id.
func (d *v1Deployment) user(email string, at time.Time) string {
	d.t.Helper()
	var id string
	if err := d.db.QueryRow(`INSERT INTO auth.users (email, password_hash, default_role, allowed_roles, created_at, updated_at)
		VALUES ($1, 'x', 'user', '{user}', $2, $2) RETURNING id`, email, at).Scan(&id); err != nil {
		d.t.Fatal(err)
	}
	return id
}

// login opens a session at at, as the old code did, and returns its id and
// first token.
func (d *v1Deployment) login(userID string, at time.Time) (string, string) {
	d.t.Helper()
	tok, err := newV1Token(rand.Reader)
	if err != nil {
		d.t.Fatal(err)
	}
	var (
		id               string
		created, expires time.Time
	)
	if err := d.db.QueryRow(v1InsertSession, userID, d.keys.Hash(tok), nil, "old-app/1", "192.0.2.1", at,
		at.Add(30*24*time.Hour), at.Add(90*24*time.Hour)).Scan(&id, &created, &expires); err != nil {
		d.t.Fatal(err)
	}
	return id, tok
}

// refresh rotates tok at at, as the old code did, and returns its successor.
func (d *v1Deployment) refresh(tok string, at time.Time) string {
	d.t.Helper()
	successor := d.keys.Successor(tok)
	var (
		outcome, id, userID, email, role, roles, claims string
		created, expires, userCreated                   time.Time
		notified                                        int
	)
	if err := d.db.QueryRow(v1RotateRefreshToken, d.keys.Hash(tok), d.keys.Hash(successor), at, at.Add(-10*time.Second),
		at.Add(30*24*time.Hour), "192.0.2.1", "old-app/1", at.UnixMicro()).
		Scan(&outcome, &id, &created, &expires, &userID, &email, &role, &roles, &userCreated, &claims, &notified); err != nil {
		d.t.Fatal(err)
	}
	if outcome != "rotated" {
		d.t.Fatalf("the old code's refresh: %s, want rotated", outcome)
	}
	return successor
}

// upgrade applies today's migrations and returns today's service on the
// database, with cfg (DefaultConfig when zero) and the clock at
// authtest.Start.
func (d *v1Deployment) upgrade(cfg auth.Config) *authtest.Env {
	d.t.Helper()
	applied, err := store.Migrate(context.Background(), d.db)
	if err != nil || len(applied) == 0 {
		d.t.Fatalf("migrating: %v %v", applied, err)
	}
	d.db.Close()
	return authtest.NewOn(d.t, d.url, cfg)
}

func hsKey(t *testing.T) []byte {
	t.Helper()
	c, err := config.Load(func(k string) string {
		return map[string]string{"HASURA_GRAPHQL_JWT_SECRET": authtest.JWTSecret}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	return c.JWT.SymmetricKey()
}

// Deployed clients hold 43-character tokens keyed with the HS JWT key (the
// old default); after the upgrade, with AUTHGATE_REFRESH_TOKEN_SECRET now
// set, they refresh into format 2, their grace replay gives the same
// format-2 successor, their ancestors' reuse still ends the session, and
// each refresh is still one round trip.
func TestUpgradeLegacyTokensRefreshIntoFormat2(t *testing.T) {
	old := newV1Deployment(t, hsKey(t))
	at := authtest.Start.Add(-2 * time.Hour)
	user := old.user("ann@example.com", at)
	sessA, a0 := old.login(user, at)
	a1 := old.refresh(a0, at.Add(time.Minute))
	a2 := old.refresh(a1, at.Add(2*time.Minute)) // current; a0, a1 retired
	sessB, b0 := old.login(user, at)
	_, c0 := old.login(user, at)
	c1 := old.refresh(c0, at.Add(time.Hour))
	_, d0 := old.login(user, at)

	env := old.upgrade(auth.Config{})
	db, counter := pgtest.CountingDB(t, env.DatabaseURL)
	svc := auth.New(store.New(db), env.Revocations, env.Issuer, env.Hasher, env.Keys, env.Clock, rand.Reader, env.Config)
	if err := svc.RecordAccessTokenLifetime(bg); err != nil { // as serve does before it serves
		t.Fatal(err)
	}
	refresh := func(tok string) (*auth.AuthPayload, error) {
		t.Helper()
		n := counter.Load()
		p, err := svc.Refresh(browser, tok)
		if got := counter.Load() - n; got != 1 {
			t.Fatalf("%d round trips, want 1", got)
		}
		return p, err
	}

	// The current format-1 token rotates into format 2, generation 1.
	x1, err := refresh(a2)
	if err != nil {
		t.Fatalf("the legacy current token: %v", err)
	}
	if x1.SessionID != sessA || authtest.Generation(env.Keys, x1.RefreshToken) != 1 || !env.Current(t, x1.RefreshToken) {
		t.Fatalf("the successor is not the session's format-2 token of generation 1")
	}
	// Its replay within grace, by the client that rotated: the same successor.
	again, err := refresh(a2)
	if err != nil || again.RefreshToken != x1.RefreshToken {
		t.Fatalf("the legacy token's grace replay: %v, same successor %v", err, err == nil && again.RefreshToken == x1.RefreshToken)
	}
	x2, err := refresh(x1.RefreshToken)
	if err != nil || !env.Keys.Follows(x1.RefreshToken, x2.RefreshToken) {
		t.Fatalf("the format-2 successor does not rotate on: %v", err)
	}
	// A retired format-1 ancestor is reuse and ends the session.
	_, err = refresh(a0)
	wantCode(t, err, auth.CodeRefreshTokenReused)
	_, err = refresh(x2.RefreshToken)
	wantCode(t, err, auth.CodeInvalidRefreshToken)

	// The converted format-1 token, once the session is two generations on.
	y1, err := refresh(c1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := refresh(y1.RefreshToken); err != nil {
		t.Fatal(err)
	}
	_, err = refresh(c1)
	wantCode(t, err, auth.CodeRefreshTokenReused)
	_, err = refresh(c0) // that session has ended
	wantCode(t, err, auth.CodeInvalidRefreshToken)

	// Logout with a format-1 token, current or retired.
	if ok, err := svc.Revoke(bg, b0); !ok || err != nil {
		t.Fatal(ok, err)
	}
	_, err = refresh(b0)
	wantCode(t, err, auth.CodeInvalidRefreshToken)
	if !env.Revocations.SessionRevoked(sessB) {
		t.Fatal("logout with a format-1 token did not end its session")
	}
	d1, err := refresh(d0)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := svc.Revoke(bg, d0); !ok || err != nil { // now an older token of the session
		t.Fatal(ok, err)
	}
	_, err = refresh(d1.RefreshToken)
	wantCode(t, err, auth.CodeInvalidRefreshToken)

	// A 43-character token nobody issued.
	_, err = refresh("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	wantCode(t, err, auth.CodeInvalidRefreshToken)
}

// A format-1 token retired before the upgrade is an ancestor even within
// the old grace window: its rotation recorded no client to check the replay
// rule against.
func TestAFormat1TokenRetiredBeforeTheUpgradeIsReuse(t *testing.T) {
	old := newV1Deployment(t, hsKey(t))
	at := authtest.Start.Add(-3 * time.Second)
	_, t0 := old.login(old.user("ann@example.com", at), at)
	t1 := old.refresh(t0, at)
	env := old.upgrade(auth.Config{})
	_, err := env.Service.Refresh(bg, t0)
	wantCode(t, err, auth.CodeRefreshTokenReused)
	_, err = env.Service.Refresh(bg, t1)
	wantCode(t, err, auth.CodeInvalidRefreshToken)
}

// An operator who had set AUTHGATE_REFRESH_TOKEN_SECRET and rotates it on
// upgrade (the old one among the previous secrets): format-1 tokens keyed
// with the old secret still refresh.
func TestUpgradeWithARotatedRefreshSecretKeepsOldTokens(t *testing.T) {
	oldSecret := "the-old-refresh-secret-0123456789abc"
	old := newV1Deployment(t, []byte(oldSecret))
	at := authtest.Start.Add(-time.Hour)
	_, t0 := old.login(old.user("ann@example.com", at), at)
	env := old.upgrade(auth.Config{})

	c, err := config.Load(func(k string) string {
		return map[string]string{
			"HASURA_GRAPHQL_JWT_SECRET":               authtest.JWTSecret,
			"AUTHGATE_REFRESH_TOKEN_SECRET":           "the-new-refresh-secret-0123456789abc",
			"AUTHGATE_REFRESH_TOKEN_PREVIOUS_SECRETS": oldSecret,
		}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := c.RefreshTokenKeys()
	if err != nil {
		t.Fatal(err)
	}
	svc := auth.New(env.Store, env.Revocations, env.Issuer, env.Hasher, keys, env.Clock, rand.Reader, env.Config)
	p, err := svc.Refresh(bg, t0)
	if err != nil {
		t.Fatalf("a format-1 token of the old secret: %v", err)
	}
	if _, kind := keys.Parse(p.RefreshToken); kind != refreshtoken.Current {
		t.Fatal("the successor is not a format-2 token of the new keys")
	}
	// Without the old secret among the keys, its format-1 tokens are not
	// even found (so nothing happens to the session).
	_, err = env.Service.Refresh(bg, t0)
	wantCode(t, err, auth.CodeInvalidRefreshToken)
	if _, err := svc.Refresh(bg, p.RefreshToken); err != nil {
		t.Fatalf("the session did not live on: %v", err)
	}
}

// Issue 11 item 12 for format-1 tokens: their retired hashes stay while
// their session can still be refreshed, whatever AUTHGATE_SESSION_MAX_AGE
// says now, and go once it cannot.
func TestPurgeKeepsRetiredFormat1HashesWhileTheirSessionLives(t *testing.T) {
	old := newV1Deployment(t, hsKey(t))
	start := authtest.Start.Add(-60 * 24 * time.Hour)
	_, t0 := old.login(old.user("ann@example.com", start), start)
	t1 := old.refresh(t0, start.Add(time.Minute))
	t2 := old.refresh(t1, start.Add(25*24*time.Hour))
	t3 := old.refresh(t2, authtest.Start.Add(-10*24*time.Hour)) // current, alive until Start+20d

	cfg := authtest.DefaultConfig()
	cfg.SessionMaxAge, cfg.RefreshTokenTTL = 30*24*time.Hour, 30*24*time.Hour // lowered: t0 was retired 60 days ago
	env := old.upgrade(cfg)
	res, err := env.Service.Purge(bg)
	if err != nil || res.RetiredTokens != 0 {
		t.Fatalf("purge = %+v, %v; want no retired token deleted", res, err)
	}
	_, err = env.Service.Refresh(bg, t0)
	wantCode(t, err, auth.CodeRefreshTokenReused)
	_, err = env.Service.Refresh(bg, t3)
	wantCode(t, err, auth.CodeInvalidRefreshToken)

	// The session can no longer be refreshed: now its hashes may go.
	res, err = env.Service.Purge(bg)
	if err != nil || res.RetiredTokens != 3 {
		t.Fatalf("purge = %+v, %v; want the session's 3 retired tokens", res, err)
	}
}
