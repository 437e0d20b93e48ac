package auth_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"authgate/internal/auth"
	"authgate/internal/authtest"
	"authgate/internal/pgtest"
	"authgate/internal/refreshtoken"
	"authgate/internal/store"
)

// sessionRow is everything a refresh may change about a session, and its
// audit trail, to show that a refused token changed nothing.
func sessionRow(t *testing.T, env *authtest.Env, id string) string {
	t.Helper()
	var row string
	if err := env.Store.DB().Get(&row, `SELECT row(s.*, (SELECT count(*) FROM auth.audit_events a WHERE a.session_id = s.id))::text
		FROM auth.sessions s WHERE s.id = $1`, id); err != nil {
		t.Fatal(err)
	}
	return row
}

// Every forged or misdirected token is INVALID_REFRESH_TOKEN and changes
// nothing: the session, its trail and its live token stay as they were.
// Those the server key refuses never reach the database at all.
func TestForgedTokensAreRefusedAndChangeNothing(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	db, counter := pgtest.CountingDB(t, env.DatabaseURL)
	svc := auth.New(store.New(db), env.Revocations, env.Issuer, env.Hasher, env.Keys, env.Clock, rand.Reader, env.Config)
	p := env.Signup(t, "a@example.com", "correct horse")
	live := mustRefresh(t, env, p.RefreshToken)
	other := env.Signup(t, "b@example.com", "correct horse")
	tok, _ := env.Keys.Parse(live.RefreshToken)
	otherTok, _ := env.Keys.Parse(other.RefreshToken)

	flip := func(token string, i int) string {
		raw, err := base64.RawURLEncoding.DecodeString(token)
		if err != nil {
			t.Fatal(err)
		}
		raw[i] ^= 0x80
		return base64.RawURLEncoding.EncodeToString(raw)
	}
	mintWith := func(keys *refreshtoken.Keys, sessionID string, g int64, proof []byte) string {
		s, err := keys.Mint(sessionID, g, proof)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	foreignKeys, err := refreshtoken.NewKeys([]byte("someone-else's-refresh-secret-0123"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	guessedS := bytes.Repeat([]byte{1}, refreshtoken.SecretSize)
	for _, tc := range []struct {
		name       string
		token      string
		roundTrips int64
	}{
		{"forged MAC", flip(live.RefreshToken, 70), 0},
		{"another key id", flip(live.RefreshToken, 2), 0},
		{"made with another server's key", mintWith(foreignKeys, tok.SessionID, tok.Generation, tok.Proof), 0},
		{"session id swapped into a genuine token", flip(live.RefreshToken, 8), 0},
		// The server key made these, the session row did not.
		{"the key with a guessed secret (key alone cannot mint)", mintWith(env.Keys, tok.SessionID, tok.Generation, refreshtoken.Proof(guessedS, tok.Generation)), 1},
		{"forged proof", mintWith(env.Keys, tok.SessionID, tok.Generation, bytes.Repeat([]byte{0}, 32)), 1},
		{"another session's proof", mintWith(env.Keys, tok.SessionID, otherTok.Generation, otherTok.Proof), 1},
		{"this session's proof, another session's id", mintWith(env.Keys, otherTok.SessionID, tok.Generation, tok.Proof), 1},
		// Following the chain from a token with the key (issue 11 item 7):
		// the next proof is SHA-256(S||g+1), not a function of this one.
		{"next generation from the token's proof", mintWith(env.Keys, tok.SessionID, tok.Generation+1, sha256Of(tok.Proof)), 1},
		{"next generation, same proof", mintWith(env.Keys, tok.SessionID, tok.Generation+1, tok.Proof), 1},
		{"an ancestor's generation with a forged proof", mintWith(env.Keys, tok.SessionID, 0, sha256Of(nil)), 1},
		{"a session that does not exist", mintWith(env.Keys, "00000000-0000-4000-8000-000000000000", 0, tok.Proof), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, otherBefore := sessionRow(t, env, tok.SessionID), sessionRow(t, env, otherTok.SessionID)
			n := counter.Load()
			_, err := svc.Refresh(bg, tc.token)
			wantCode(t, err, auth.CodeInvalidRefreshToken)
			if got := counter.Load() - n; got != tc.roundTrips {
				t.Errorf("%d database round trips, want %d", got, tc.roundTrips)
			}
			// A forged token cannot log anyone out either.
			if ok, err := svc.Revoke(bg, tc.token); !ok || err != nil {
				t.Fatal(ok, err)
			}
			if sessionRow(t, env, tok.SessionID) != before || sessionRow(t, env, otherTok.SessionID) != otherBefore {
				t.Fatal("a refused token changed a session")
			}
		})
	}
	if !env.Current(t, live.RefreshToken) || !env.Current(t, other.RefreshToken) {
		t.Fatal("the live tokens no longer hold")
	}
	mustRefresh(t, env, live.RefreshToken)
}

func sha256Of(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

// Issue 11 item 7: keys rotate without ending sessions. With the old secret
// among AUTHGATE_REFRESH_TOKEN_PREVIOUS_SECRETS its tokens still refresh,
// into tokens of the new secret; with the old secret gone they do not.
func TestARotatedKeysTokensRefreshIntoTheNewKey(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	p := env.Signup(t, "a@example.com", "correct horse")
	newSecret := []byte("the-new-refresh-secret-0123456789ab")
	rotated, err := refreshtoken.NewKeys(newSecret, [][]byte{[]byte(authtest.RefreshSecret)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	newOnly, err := refreshtoken.NewKeys(newSecret, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	service := func(keys *refreshtoken.Keys) *auth.Service {
		return auth.New(env.Store, env.Revocations, env.Issuer, env.Hasher, keys, env.Clock, rand.Reader, env.Config)
	}
	_, err = service(newOnly).Refresh(bg, p.RefreshToken)
	wantCode(t, err, auth.CodeInvalidRefreshToken)

	next, err := service(rotated).Refresh(bg, p.RefreshToken)
	if err != nil {
		t.Fatalf("a previous key's token: %v", err)
	}
	if _, kind := newOnly.Parse(next.RefreshToken); kind != refreshtoken.Current {
		t.Fatal("the successor is not made with the new key")
	}
	if _, err := service(newOnly).Refresh(bg, next.RefreshToken); err != nil {
		t.Fatalf("once the old key is dropped, the new key's token: %v", err)
	}
}

// Logout works with the current token or any older one of the session; an
// unknown token logs nobody out.
func TestLogoutWithAnOlderTokenEndsTheSession(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	for _, older := range []bool{false, true} {
		p := env.Signup(t, map[bool]string{false: "cur@example.com", true: "old@example.com"}[older], "correct horse")
		t1 := mustRefresh(t, env, p.RefreshToken)
		t2 := mustRefresh(t, env, t1.RefreshToken)
		logout := t2.RefreshToken
		if older {
			logout = p.RefreshToken
		}
		if ok, err := env.Service.Revoke(bg, logout); !ok || err != nil {
			t.Fatal(ok, err)
		}
		_, err := env.Service.Refresh(bg, t2.RefreshToken)
		wantCode(t, err, auth.CodeInvalidRefreshToken)
		if !env.Revocations.SessionRevoked(p.SessionID) {
			t.Fatalf("older=%v: the session is not known as ended", older)
		}
	}
}

// By default a refresh writes only the session row: no audit row per
// rotation or replay. Reuse is audited whatever the setting.
func TestRefreshesAreNotAuditedByDefaultButReuseIs(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	p := env.Signup(t, "a@example.com", "correct horse")
	mustRefresh(t, env, p.RefreshToken)
	mustRefresh(t, env, p.RefreshToken) // a replay
	if n := countEvents(t, env, auth.EventRefresh); n != 0 {
		t.Fatalf("%d refresh events, want 0", n)
	}
	env.Clock.Advance(env.Config.RefreshReuseGrace)
	_, err := env.Service.Refresh(bg, p.RefreshToken)
	wantCode(t, err, auth.CodeRefreshTokenReused)
	if n := countEvents(t, env, auth.EventRefreshTokenReused); n != 1 {
		t.Fatalf("%d reuse events, want 1", n)
	}
}

// Issue 19: a rotation is a HOT update. Many sessions fill the table's
// pages (as far as its fill factor lets inserts fill them); refreshing a
// good part of them, every update of auth.sessions counted by
// pg_stat_user_tables is heap-only: no index touched, no new index entry.
func TestRefreshUpdatesAreHOT(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	st, err := store.Open(bg, env.DatabaseURL, store.PoolConfig{MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	svc := auth.New(st, env.Revocations, env.Issuer, env.Hasher, env.Keys, env.Clock, rand.Reader, env.Config)
	// Autovacuum's ANALYZE, which the inserts below can set off, holds a
	// snapshot that stops the page pruning a HOT update relies on: it would
	// make this test depend on when autovacuum happens to run.
	if _, err := env.Store.DB().Exec(`ALTER TABLE auth.sessions SET (autovacuum_enabled = false)`); err != nil {
		t.Fatal(err)
	}
	env.Signup(t, "hot@example.com", "correct horse")
	const sessions = 600
	tokens := make([]string, 0, sessions)
	for range sessions {
		p, err := svc.Login(browser, "hot@example.com", "correct horse", nil)
		if err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, p.RefreshToken)
	}
	var pages int
	if err := env.Store.DB().Get(&pages, `SELECT pg_relation_size('auth.sessions') / current_setting('block_size')::int`); err != nil {
		t.Fatal(err)
	}
	if pages < 5 {
		t.Fatalf("the sessions fill only %d pages: the test would prove nothing", pages)
	}
	refresh := func(tok string) string {
		t.Helper()
		p, err := svc.Refresh(browser, tok)
		if err != nil {
			t.Fatal(err)
		}
		return p.RefreshToken
	}
	refreshes := 0
	// One session in twenty is refreshed twice and replayed once: the new
	// row versions fit in the room the fill factor leaves on each page, so
	// every update can be HOT without waiting for page pruning (which a
	// busy server's checkpointer, pinning the page, can put off).
	for i, tok := range tokens {
		if i%20 != 0 {
			continue
		}
		next := refresh(tok)
		refresh(next)
		refresh(next) // a replay counts on the row: an update too
		refreshes += 3
	}
	// Backends publish their table statistics when they exit.
	st.Close()
	var updates, hot int
	for deadline := time.Now().Add(20 * time.Second); ; {
		if err := env.Store.DB().QueryRow(`SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables
			WHERE schemaname = 'auth' AND relname = 'sessions'`).Scan(&updates, &hot); err != nil {
			t.Fatal(err)
		}
		if updates >= refreshes || time.Now().After(deadline) {
			break
		}
	}
	if updates != refreshes || hot != updates {
		t.Fatalf("%d refreshes: %d updates of auth.sessions, %d of them HOT; want every one HOT", refreshes, updates, hot)
	}
}

// Issue 11 item 12: lowering AUTHGATE_SESSION_MAX_AGE and purging never
// makes an ancestor's replay anything but reuse while its session lives.
func TestAnAncestorIsStillReuseAfterAPurgeUnderALowerMaxAge(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	p := env.Signup(t, "a@example.com", "correct horse")
	t1 := mustRefresh(t, env, p.RefreshToken)
	env.Clock.Advance(20 * 24 * time.Hour)
	t2 := mustRefresh(t, env, t1.RefreshToken)

	lower := env.Config
	lower.SessionMaxAge, lower.RefreshTokenTTL = 7*24*time.Hour, 7*24*time.Hour
	svc := auth.New(env.Store, env.Revocations, env.Issuer, env.Hasher, env.Keys, env.Clock, rand.Reader, lower)
	if _, err := svc.Purge(bg); err != nil {
		t.Fatal(err)
	}
	_, err := svc.Refresh(bg, p.RefreshToken)
	wantCode(t, err, auth.CodeRefreshTokenReused)
	_, err = svc.Refresh(bg, t2.RefreshToken)
	wantCode(t, err, auth.CodeInvalidRefreshToken)
}

// Argument case 3's second half: a genuine token of a generation the row has
// not reached (what a database restored from a backup meets: the client's
// token was issued after the backup) is unknown, not reuse. It answers
// INVALID_REFRESH_TOKEN, writes nothing and ends nothing; the token of the
// generation the row holds still rotates.
func TestAGenerationTheRowHasNotReachedIsUnknownAndChangesNothing(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	p := env.Signup(t, "a@example.com", "correct horse")
	t1 := mustRefresh(t, env, p.RefreshToken)
	t2 := mustRefresh(t, env, t1.RefreshToken)
	// The backup was taken when t1 was current.
	if _, err := env.Store.DB().Exec(`UPDATE auth.sessions SET generation = generation - 1 WHERE id = $1`, p.SessionID); err != nil {
		t.Fatal(err)
	}
	before := sessionRow(t, env, p.SessionID)
	_, err := env.Service.Refresh(browser, t2.RefreshToken)
	wantCode(t, err, auth.CodeInvalidRefreshToken)
	if sessionRow(t, env, p.SessionID) != before {
		t.Fatal("a token of a generation not reached changed the session")
	}
	if !env.Current(t, t1.RefreshToken) {
		t.Fatal("the restored generation's token no longer holds")
	}
	mustRefresh(t, env, t1.RefreshToken)
}

// rotatedColumns are the columns of auth.sessions the refresh statement
// writes (store's rotateTail, SET list): an index on any of them would make
// rotations non-HOT updates.
var rotatedColumns = []string{"generation", "rotated_at", "rotated_client", "replays", "last_activity_at",
	"expires_at", "ip", "user_agent"}

// Issue 19: no index of auth.sessions covers a column a rotation writes, as
// a key, in an expression or in a partial index's predicate; so the purge
// cannot use one either (it finds idle sessions by a sweep in primary-key
// order). The list above is checked against what a rotation actually
// changes, so a new column written by rotations cannot be missed.
func TestNoIndexCoversAColumnARotationWrites(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	p := env.Signup(t, "a@example.com", "correct horse")
	db := env.Store.DB()
	var before, after []string
	rowColumns := `SELECT key || '=' || coalesce(value::text, 'null') FROM auth.sessions s, jsonb_each(to_jsonb(s)) WHERE s.id = $1`
	if err := db.Select(&before, rowColumns, p.SessionID); err != nil {
		t.Fatal(err)
	}
	env.Clock.Advance(time.Minute)
	mustRefreshFrom(t, thief, env, p.RefreshToken)
	if err := db.Select(&after, rowColumns, p.SessionID); err != nil {
		t.Fatal(err)
	}
	changed := map[string]bool{}
	for _, kv := range after {
		if !slices.Contains(before, kv) {
			col, _, _ := strings.Cut(kv, "=")
			changed[col] = true
		}
	}
	for col := range changed {
		if !slices.Contains(rotatedColumns, col) {
			t.Errorf("a rotation changed %s, which rotatedColumns does not list", col)
		}
	}
	if len(changed) < 5 {
		t.Fatalf("a rotation changed only %v: the check would prove little", changed)
	}

	var indexes []struct {
		Name    string `db:"name"`
		Columns string `db:"columns"`
		Def     string `db:"def"`
	}
	// Every column an index mentions: its key columns, and those in its
	// expressions and predicate (pg_get_indexdef spells them all).
	if err := db.Select(&indexes, `
		SELECT c.relname AS name, pg_get_indexdef(i.indexrelid) AS def,
		       coalesce((SELECT string_agg(a.attname, ',') FROM pg_attribute a
		                 WHERE a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)), '') AS columns
		FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
		WHERE i.indrelid = 'auth.sessions'::regclass`); err != nil {
		t.Fatal(err)
	}
	if len(indexes) < 3 {
		t.Fatalf("found %d indexes of auth.sessions; the query is wrong", len(indexes))
	}
	word := regexp.MustCompile(`[a-z_]+`)
	for _, ix := range indexes {
		mentioned := append(strings.Split(ix.Columns, ","), word.FindAllString(ix.Def[strings.Index(ix.Def, " USING "):], -1)...)
		for _, col := range rotatedColumns {
			if slices.Contains(mentioned, col) {
				t.Errorf("index %s covers %s, which every rotation writes: %s", ix.Name, col, ix.Def)
			}
		}
	}
}
