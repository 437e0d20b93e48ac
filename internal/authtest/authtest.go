// Package authtest builds a complete auth.Service for tests: a fresh
// migrated database, a fake clock, an HS256 issuer and cheap password
// hashing, so tests exercise the real SQL and rules quickly.
package authtest

import (
	"cmp"
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"reflect"
	"testing"
	"time"

	"authgate/internal/auth"
	"authgate/internal/clock"
	"authgate/internal/mfa"
	"authgate/internal/onetime"
	"authgate/internal/password"
	"authgate/internal/pgtest"
	"authgate/internal/refreshtoken"
	"authgate/internal/revocation"
	"authgate/internal/store"
	"authgate/internal/token"
)

// JWTSecret is the HASURA_GRAPHQL_JWT_SECRET every test environment uses.
const JWTSecret = `{"type":"HS256","key":"test-key-0123456789abcdef0123456789abcdef"}`

// RefreshSecret is the AUTHGATE_REFRESH_TOKEN_SECRET every test environment
// uses.
const RefreshSecret = "test-refresh-secret-0123456789abcdef"

// RefreshKeys are the refresh-token keys of RefreshSecret and JWTSecret, as
// the server builds them (format-1 tokens hashed under either are
// recognised); they fail the test on error.
func RefreshKeys(t testing.TB) *refreshtoken.Keys {
	t.Helper()
	jwtCfg, err := token.ParseConfig(JWTSecret, "")
	if err != nil {
		t.Fatalf("authtest: %v", err)
	}
	keys, err := refreshtoken.NewKeys([]byte(RefreshSecret), nil, [][]byte{[]byte(RefreshSecret), jwtCfg.SymmetricKey()})
	if err != nil {
		t.Fatalf("authtest: %v", err)
	}
	return keys
}

// OneTimeKeys are the one-time token keys of RefreshSecret, as the server
// builds them; they fail the test on error.
func OneTimeKeys(t testing.TB) *onetime.Keys {
	t.Helper()
	keys, err := onetime.NewKeys([]byte(RefreshSecret))
	if err != nil {
		t.Fatalf("authtest: %v", err)
	}
	return keys
}

// Start is the fake clock's starting instant.
var Start = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// Env is a service with everything behind it, for one test.
type Env struct {
	Service     *auth.Service
	Store       *store.Store
	Clock       *clock.Fake
	Issuer      *token.Issuer
	Keys        *refreshtoken.Keys
	Hasher      *password.Hasher
	Revocations *revocation.State
	Config      auth.Config
	DatabaseURL string
	// Feed is the running LISTEN feed, once StartFeed has started it.
	Feed *revocation.Feed

	// now is the clock the service and its feed read: Clock, unless the
	// instance was given another (InstanceOptions.Clock).
	now clock.Clock
}

// CheapParams are argon2id parameters that make tests fast.
var CheapParams = password.Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}

// DefaultConfig is the default rule set.
func DefaultConfig() auth.Config {
	return auth.Config{
		RefreshTokenTTL:    30 * 24 * time.Hour,
		SessionMaxAge:      90 * 24 * time.Hour,
		RefreshReuseGrace:  10 * time.Second,
		RefreshReplayLimit: 3,
		SignupEnabled:      true,
		SignupRole:         "user",
		AccessTokenTTL:     15 * time.Minute,
		MFA:                MFAConfig(),
	}
}

// MFAKey is the tests' AUTHGATE_MFA_ENCRYPTION_KEY.
const MFAKey = "authtest-mfa-encryption-key-0123456789abcdef"

// The tests' WebAuthn relying party.
const (
	PasskeyRPID   = "localhost"
	PasskeyOrigin = "http://localhost:8080"
)

// MFAConfig is the tests' second-factor setup: TOTP keyed by MFAKey,
// passkeys for PasskeyRPID from PasskeyOrigin.
func MFAConfig() auth.MFAConfig {
	keys, err := mfa.NewKeys([]byte(MFAKey))
	if err != nil {
		panic(err)
	}
	passkeys, err := mfa.NewPasskeys(mfa.PasskeyConfig{RPID: PasskeyRPID, RPName: "authgate tests", Origins: []string{PasskeyOrigin}})
	if err != nil {
		panic(err)
	}
	return auth.MFAConfig{Keys: keys, Passkeys: passkeys, Issuer: "authgate tests"}
}

// New builds an Env with cfg (DefaultConfig when zero) on a fresh database.
func New(t testing.TB, cfg auth.Config) *Env {
	t.Helper()
	return NewOn(t, pgtest.NewDatabase(t), cfg)
}

// NewOn builds an Env with cfg (DefaultConfig when zero) on the migrated
// database at url.
func NewOn(t testing.TB, url string, cfg auth.Config) *Env {
	t.Helper()
	if reflect.DeepEqual(cfg, auth.Config{}) {
		cfg = DefaultConfig()
	}
	if cfg.OneTimeKeys == nil {
		cfg.OneTimeKeys = OneTimeKeys(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := store.Open(ctx, url, store.PoolConfig{MaxConns: 16})
	if err != nil {
		t.Fatalf("authtest: %v", err)
	}
	if err := st.PrepareStatements(ctx); err != nil {
		t.Fatalf("authtest: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	jwtCfg, err := token.ParseConfig(JWTSecret, "")
	if err != nil {
		t.Fatalf("authtest: %v", err)
	}
	clk := clock.NewFake(Start)
	issuer := token.NewIssuer(jwtCfg, clk, rand.Reader, 15*time.Minute)
	keys := RefreshKeys(t)
	hasher := password.New(CheapParams, 4, rand.Reader)
	revoked := revocation.NewState(issuer.TTL(), 0)
	svc := auth.New(st, revoked, issuer, hasher, keys, clk, rand.Reader, cfg)
	return &Env{Service: svc, Store: st, Clock: clk, Issuer: issuer, Keys: keys, Hasher: hasher,
		Revocations: revoked, Config: cfg, DatabaseURL: url, now: clk}
}

// Instance is a second authgate instance on e's database: its own store
// pool, revocation state and running LISTEN feed, sharing e's clock.
func (e *Env) Instance(t testing.TB) *Env {
	t.Helper()
	return e.InstanceWith(t, InstanceOptions{})
}

// InstanceOptions say how a second instance differs from the first.
type InstanceOptions struct {
	// AccessTokenTTL, when set, is the instance's access-token lifetime
	// (AUTHGATE_ACCESS_TOKEN_TTL); its issuer signs with e's key.
	AccessTokenTTL time.Duration
	// Clock, when set, is what the instance's service and feed read instead
	// of e's clock (which tests still move).
	Clock clock.Clock
}

// InstanceWith is Instance with the differences o names.
func (e *Env) InstanceWith(t testing.TB, o InstanceOptions) *Env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := store.Open(ctx, e.DatabaseURL, store.PoolConfig{MaxConns: 4})
	if err != nil {
		t.Fatalf("authtest: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	other := *e
	if o.Clock != nil {
		other.now = o.Clock
	}
	if o.AccessTokenTTL != 0 || o.Clock != nil {
		jwtCfg, err := token.ParseConfig(JWTSecret, "")
		if err != nil {
			t.Fatalf("authtest: %v", err)
		}
		other.Config.AccessTokenTTL = cmp.Or(o.AccessTokenTTL, e.Issuer.TTL())
		other.Issuer = token.NewIssuer(jwtCfg, other.now, rand.Reader, other.Config.AccessTokenTTL)
	}
	other.Revocations = revocation.NewState(other.Issuer.TTL(), 0)
	other.Service = auth.New(st, other.Revocations, other.Issuer, e.Hasher, e.Keys, other.now, rand.Reader, other.Config)
	other.Store = st
	other.StartFeed(t)
	return &other
}

// StartFeed loads e's revocation state and keeps it current over
// LISTEN/NOTIFY until the test ends; it returns the running feed once its
// listening connection is up and it has loaded since (the state is current).
func (e *Env) StartFeed(t testing.TB) *revocation.Feed {
	t.Helper()
	feed := revocation.NewFeed(e.Revocations, e.Store, e.now, e.DatabaseURL, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := feed.Load(context.Background()); err != nil {
		t.Fatalf("authtest: loading revocations: %v", err)
	}
	reloaded := make(chan struct{}, 1)
	feed.Reloaded = func() {
		select {
		case reloaded <- struct{}{}:
		default:
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = feed.Run(ctx)
	}()
	t.Cleanup(func() { cancel(); <-done })
	deadline := time.After(10 * time.Second)
	for !e.Revocations.Current() {
		select {
		case <-reloaded:
		case <-deadline:
			t.Fatalf("authtest: the revocation feed is not connected and loaded after 10 s")
		}
	}
	e.Feed = feed
	return feed
}

// Signup creates a user with a session and fails the test on error.
func (e *Env) Signup(t testing.TB, email, pw string) *auth.AuthPayload {
	t.Helper()
	p, err := e.Service.Signup(context.Background(), email, pw, nil)
	if err != nil {
		t.Fatalf("signup %s: %v", email, err)
	}
	return p
}

// Successor returns the token a refresh of token (format 2) yields, made
// the way the server makes it, from the session row's secret; it fails the
// test when token is not a format-2 token of a session.
func (e *Env) Successor(t testing.TB, token string) string {
	t.Helper()
	tok := e.parse(t, token)
	var secret []byte
	if err := e.Store.DB().Get(&secret, `SELECT token_secret FROM auth.sessions WHERE id = $1`, tok.SessionID); err != nil {
		t.Fatalf("authtest: %v", err)
	}
	next, err := e.Keys.Mint(tok.SessionID, tok.Generation+1, refreshtoken.Proof(secret, tok.Generation+1))
	if err != nil {
		t.Fatalf("authtest: %v", err)
	}
	return next
}

// Current reports whether token is the current token of a live session:
// its generation is the session's and the session is not revoked.
func (e *Env) Current(t testing.TB, token string) bool {
	t.Helper()
	tok := e.parse(t, token)
	var current bool
	if err := e.Store.DB().Get(&current, `SELECT EXISTS (SELECT 1 FROM auth.sessions WHERE id = $1 AND generation = $2 AND revoked_at IS NULL)`,
		tok.SessionID, tok.Generation); err != nil {
		t.Fatalf("authtest: %v", err)
	}
	return current
}

// parse parses a format-2 token and fails the test on anything else.
func (e *Env) parse(t testing.TB, token string) refreshtoken.Token {
	t.Helper()
	tok, kind := e.Keys.Parse(token)
	if kind != refreshtoken.Current {
		t.Fatalf("authtest: %.12s… is not a format-2 refresh token", token)
	}
	return tok
}

// WaitForALockWait returns once a statement on e's database waits for a
// lock (the other side of a test's interleaving has blocked where the test
// holds a row), and fails the test if none ever does.
func (e *Env) WaitForALockWait(t testing.TB) {
	t.Helper()
	for i := 0; ; i++ {
		var waiting int
		if err := e.Store.DB().Get(&waiting, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`); err != nil {
			t.Fatalf("authtest: %v", err)
		}
		if waiting > 0 {
			return
		}
		if i > 10000 {
			t.Fatal("authtest: nothing ever waited for the lock the test holds")
		}
	}
}

// Generation is the generation a format-2 token stands for (-1 for anything
// else).
func Generation(keys *refreshtoken.Keys, token string) int64 {
	t, kind := keys.Parse(token)
	if kind != refreshtoken.Current {
		return -1
	}
	return t.Generation
}

// As returns a context authenticated as the session of p.
func As(p *auth.AuthPayload) context.Context {
	return auth.WithPrincipal(context.Background(), auth.Principal{UserID: p.User.ID, SessionID: p.SessionID})
}
