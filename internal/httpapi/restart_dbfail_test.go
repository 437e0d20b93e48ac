//go:build unix

package httpapi_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"authgate/graph"
	"authgate/internal/auth"
	"authgate/internal/authtest"
	"authgate/internal/clock"
	"authgate/internal/httpapi"
	"authgate/internal/password"
	"authgate/internal/refreshtoken"
	"authgate/internal/store"
	"authgate/internal/token"
)

// dbfailServer is the whole HTTP surface over a store opened on a given
// database URL, with the real clock (so the refresh grace window is the
// real 10 s), both doors, and a short request timeout.
type dbfailServer struct {
	url     string
	svc     *auth.Service
	keys    *refreshtoken.Keys
	timeout time.Duration
	client  *http.Client
}

const dbfailSecret = "dbfail-action-secret"

func newDBFailServer(t *testing.T, databaseURL string, timeout time.Duration) *dbfailServer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := store.Open(ctx, databaseURL, store.PoolConfig{MaxConns: 8})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	jwtCfg, err := token.ParseConfig(authtest.JWTSecret, "")
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.System{}
	keys := authtest.RefreshKeys(t)
	svc := auth.New(st, nil, token.NewIssuer(jwtCfg, clk, rand.Reader, 15*time.Minute),
		password.New(authtest.CheapParams, 4, rand.Reader), keys, clk, rand.Reader, authtest.DefaultConfig())
	h := httpapi.New(httpapi.Config{ActionSecret: dbfailSecret, RequestTimeout: timeout}, svc,
		graph.NewServer(svc, graph.Options{}), st, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return &dbfailServer{url: ts.URL, svc: svc, keys: keys, timeout: timeout, client: &http.Client{Timeout: 15 * time.Second}}
}

// outcome sorts answers: success, UNAVAILABLE (allowed while the database
// is away), or anything else (a failure of the test).
type outcome int

const (
	succeeded outcome = iota
	unavailable
	failed
)

// answer is one login or refresh as a client saw it.
type answer struct {
	outcome   outcome
	token     string // the refresh token received
	sessionID string
	detail    string // what was wrong, for failed
	took      time.Duration
}

var dbfailMutations = map[string]string{
	"login":        `mutation($identifier: String!, $password: String!) { login(identifier: $identifier, password: $password) { refreshToken sessionId } }`,
	"refreshToken": `mutation($refreshToken: String!) { refreshToken(refreshToken: $refreshToken) { refreshToken sessionId } }`,
}

// call runs op ("login" or "refreshToken") through door ("graphql" or
// "actions") and sorts the answer.
func (s *dbfailServer) call(door, op string, input map[string]any) answer {
	var body []byte
	path := "/graphql"
	if door == "actions" {
		path = "/actions"
		body, _ = json.Marshal(map[string]any{"action": map[string]any{"name": op}, "input": input,
			"session_variables": map[string]string{"x-hasura-role": "anonymous"}})
	} else {
		body, _ = json.Marshal(map[string]any{"query": dbfailMutations[op], "variables": input})
	}
	req, _ := http.NewRequest(http.MethodPost, s.url+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Action-Secret", dbfailSecret)
	start := time.Now()
	resp, err := s.client.Do(req)
	if err != nil {
		return answer{outcome: failed, detail: err.Error(), took: time.Since(start)}
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	a := answer{took: time.Since(start)}
	fail := func() answer {
		a.outcome, a.detail = failed, fmt.Sprintf("%s %s: %d %.300s", door, op, resp.StatusCode, raw)
		return a
	}
	if err != nil {
		return fail()
	}
	var payload struct {
		RefreshToken string `json:"refreshToken"`
		SessionID    string `json:"sessionId"`
	}
	if door == "actions" {
		switch resp.StatusCode {
		case http.StatusOK:
			if json.Unmarshal(raw, &payload) != nil || payload.RefreshToken == "" {
				return fail()
			}
		case http.StatusFailedDependency: // UNAVAILABLE on /actions (see actionStatus)
			var e struct {
				Extensions struct{ Code string } `json:"extensions"`
			}
			if json.Unmarshal(raw, &e) != nil || e.Extensions.Code != string(auth.CodeUnavailable) {
				return fail()
			}
			a.outcome = unavailable
			return a
		default:
			return fail()
		}
	} else {
		var r struct {
			Data   map[string]json.RawMessage `json:"data"`
			Errors []struct {
				Extensions struct{ Code string } `json:"extensions"`
			} `json:"errors"`
		}
		if resp.StatusCode != http.StatusOK || json.Unmarshal(raw, &r) != nil {
			return fail()
		}
		if len(r.Errors) > 0 {
			for _, e := range r.Errors {
				if e.Extensions.Code != string(auth.CodeUnavailable) {
					return fail()
				}
			}
			a.outcome = unavailable
			return a
		}
		if json.Unmarshal(r.Data[op], &payload) != nil || payload.RefreshToken == "" {
			return fail()
		}
	}
	a.outcome, a.token, a.sessionID = succeeded, payload.RefreshToken, payload.SessionID
	return a
}

// status GETs path and returns the HTTP status (0 when the request failed).
func (s *dbfailServer) status(path string) int {
	resp, err := s.client.Get(s.url + path)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// waitStatus polls path until it answers want, failing after limit.
func (s *dbfailServer) waitStatus(t *testing.T, path string, want int, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		got := s.status(path)
		if got == want {
			return time.Since(start)
		}
		if time.Since(start) > limit {
			t.Fatalf("%s still answers %d after %s, want %d", path, got, limit, want)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// tracked is a session as its client knows it: its id and the last refresh
// token the client received.
type tracked struct {
	id, last string
}

// loadClient is one client of the load: it refreshes its session over and
// over and, for some clients, logs in anew now and then.
type loadClient struct {
	door      string
	email     string
	logins    bool
	sessions  []*tracked
	successes atomic.Int64
	lastOK    atomic.Int64 // unix nanoseconds of the last success
}

// TestDatabaseRestartUnderLoadLosesNothing stops PostgreSQL (fast mode,
// as an orchestrator does) while clients log in and refresh through both
// doors, then starts it again. It counts: no answer but successes and
// UNAVAILABLE (424 on /actions), each within the request timeout; /readyz
// red while the database is away and green after; no session lost (every
// client's last refresh token still refreshes afterwards, to its expected
// successor: the grace window covers a rotation whose answer was lost) and
// none forked (the database holds exactly the token its client holds); and
// nothing written by requests refused while the database was away.
func TestDatabaseRestartUnderLoadLosesNothing(t *testing.T) {
	c := startCluster(t)
	func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		st, err := store.Open(ctx, c.url(), store.PoolConfig{MaxConns: 2})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if _, err := store.Migrate(ctx, st.DB().DB); err != nil {
			t.Fatal(err)
		}
	}()
	const timeout = 3 * time.Second
	bound := timeout + time.Second // the longest any answer may take
	s := newDBFailServer(t, c.url(), timeout)
	ctx := context.Background()
	const pw = "correct horse battery"

	clients := make([]*loadClient, 6)
	signedUp := map[string]bool{} // the sign-ups' sessions, which the clients leave alone
	for i := range clients {
		clients[i] = &loadClient{door: []string{"graphql", "actions"}[i%2], email: fmt.Sprintf("client%d@example.com", i), logins: i >= 4}
		p, err := s.svc.Signup(ctx, clients[i].email, pw, nil)
		if err != nil {
			t.Fatal(err)
		}
		signedUp[p.SessionID] = true
	}
	probe, err := s.svc.Signup(ctx, "probe@example.com", pw, nil)
	if err != nil {
		t.Fatal(err)
	}

	var (
		mu       sync.Mutex
		failures []string
		counts   = map[string]int{}
		slowest  time.Duration
	)
	record := func(door string, a answer) {
		mu.Lock()
		defer mu.Unlock()
		counts[fmt.Sprintf("%s %v", door, map[outcome]string{succeeded: "ok", unavailable: "UNAVAILABLE", failed: "failed"}[a.outcome])]++
		if a.outcome == failed && len(failures) < 20 {
			failures = append(failures, a.detail)
		}
		if a.took > bound && len(failures) < 20 {
			failures = append(failures, fmt.Sprintf("%s: an answer took %s", door, a.took))
		}
		slowest = max(slowest, a.took)
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, lc := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var cur *tracked
			clean := false // cur's last refresh succeeded
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				var a answer
				switch {
				case cur == nil || (lc.logins && n%5 == 0 && clean):
					// A new login only from a clean state: after the
					// current session's last refresh succeeded.
					a = s.call(lc.door, "login", map[string]any{"identifier": lc.email, "password": pw})
					if a.outcome == succeeded {
						cur = &tracked{id: a.sessionID, last: a.token}
						lc.sessions = append(lc.sessions, cur)
					}
				default:
					a = s.call(lc.door, "refreshToken", map[string]any{"refreshToken": cur.last})
					clean = a.outcome == succeeded
					if a.outcome == succeeded {
						if a.sessionID != cur.id || !s.keys.Follows(cur.last, a.token) {
							a.outcome, a.detail = failed, fmt.Sprintf("%s refresh of session %s answered session %s with an unexpected successor", lc.door, cur.id, a.sessionID)
						} else {
							cur.last = a.token
						}
					}
				}
				record(lc.door, a)
				if a.outcome == succeeded {
					lc.successes.Add(1)
					lc.lastOK.Store(time.Now().UnixNano())
					time.Sleep(2 * time.Millisecond)
				} else {
					time.Sleep(20 * time.Millisecond)
				}
			}
		}()
	}
	stopped := false
	stopLoad := func() {
		if !stopped {
			stopped = true
			close(stop)
			wg.Wait()
		}
	}
	defer stopLoad()

	waitAll := func(what string, limit time.Duration, ok func(*loadClient) bool) {
		t.Helper()
		deadline := time.Now().Add(limit)
		for _, lc := range clients {
			for !ok(lc) {
				if time.Now().After(deadline) {
					t.Fatalf("%s: a %s client did not get there within %s", what, lc.door, limit)
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
	}
	waitAll("warming up", 30*time.Second, func(lc *loadClient) bool { return lc.successes.Load() >= 3 })

	// The database goes away mid-load.
	downAt := time.Now()
	c.stop(t)
	stoppedIn := time.Since(downAt)
	redIn := s.waitStatus(t, "/readyz", http.StatusServiceUnavailable, 10*time.Second)
	for _, door := range []string{"graphql", "actions"} {
		for op, input := range map[string]map[string]any{
			"refreshToken": {"refreshToken": probe.RefreshToken},
			"login":        {"identifier": "probe@example.com", "password": pw},
		} {
			if a := s.call(door, op, input); a.outcome != unavailable || a.took > bound {
				t.Errorf("%s %s while the database is down: outcome %d after %s (%s), want UNAVAILABLE within %s", door, op, a.outcome, a.took, a.detail, bound)
			}
		}
	}
	time.Sleep(500 * time.Millisecond) // the load keeps meeting the outage

	// And comes back.
	upAt := time.Now()
	c.start(t)
	greenIn := s.waitStatus(t, "/readyz", http.StatusOK, 30*time.Second)
	waitAll("after the restart", 30*time.Second, func(lc *loadClient) bool { return lc.lastOK.Load() > upAt.UnixNano() })
	time.Sleep(200 * time.Millisecond)
	stopLoad()

	mu.Lock()
	defer mu.Unlock()
	for _, f := range failures {
		t.Errorf("answer that is neither a success nor UNAVAILABLE in time: %s", f)
	}
	if counts["graphql UNAVAILABLE"]+counts["actions UNAVAILABLE"] == 0 {
		t.Errorf("no client met the outage (%v): the test proved nothing", counts)
	}

	db, err := sql.Open("postgres", c.url())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	generationOf := func(sessionID string) (generation int64, revoked bool) {
		t.Helper()
		if err := db.QueryRow(`SELECT generation, revoked_at IS NOT NULL FROM auth.sessions WHERE id = $1`, sessionID).Scan(&generation, &revoked); err != nil {
			t.Fatalf("session %s: %v", sessionID, err)
		}
		return generation, revoked
	}

	// The requests refused while the database was down wrote nothing, and
	// the probe's token works now.
	var probeSessions int
	if err := db.QueryRow(`SELECT count(*) FROM auth.sessions s JOIN auth.users u ON u.id = s.user_id WHERE u.email = 'probe@example.com'`).Scan(&probeSessions); err != nil {
		t.Fatal(err)
	}
	if g, _ := generationOf(probe.SessionID); probeSessions != 1 || g != authtest.Generation(s.keys, probe.RefreshToken) {
		t.Errorf("refused requests wrote: the probe user has %d sessions, its token moved: %v", probeSessions, g != authtest.Generation(s.keys, probe.RefreshToken))
	}
	if a := s.call("actions", "refreshToken", map[string]any{"refreshToken": probe.RefreshToken}); a.outcome != succeeded {
		t.Errorf("the probe's token no longer refreshes after the restart: %s", a.detail)
	}

	// Every session lives, and its client and the database agree on it.
	total, recovered := 0, 0
	known := signedUp
	known[probe.SessionID] = true
	for _, lc := range clients {
		for _, ts := range lc.sessions {
			total++
			known[ts.id] = true
			g, revoked := generationOf(ts.id)
			switch {
			case revoked:
				t.Errorf("session %s was revoked", ts.id)
				continue
			case g == authtest.Generation(s.keys, ts.last):
			case g == authtest.Generation(s.keys, ts.last)+1:
				recovered++ // rotated, answer lost: the grace replay returns it
			default:
				t.Errorf("session %s forked: the database holds a token its client never had", ts.id)
				continue
			}
			a := s.call("actions", "refreshToken", map[string]any{"refreshToken": ts.last})
			if a.outcome != succeeded || a.sessionID != ts.id || !s.keys.Follows(ts.last, a.token) {
				t.Errorf("session %s lost: its last token refreshes to %d %s", ts.id, a.outcome, a.detail)
				continue
			}
			if g, _ := generationOf(ts.id); g != authtest.Generation(s.keys, a.token) {
				t.Errorf("session %s: the database does not hold the token its client now has", ts.id)
			}
		}
	}
	rows, err := db.Query(`SELECT id FROM auth.sessions`)
	if err != nil {
		t.Fatal(err)
	}
	orphans := 0
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		if !known[id] {
			orphans++ // a login whose answer the outage swallowed
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	t.Logf("answers %v; slowest %s; stopped in %s, /readyz red after %s, down %s, green %s after start; "+
		"%d sessions checked (%d recovered a rotation whose answer was lost); %d sessions from logins whose answer was lost",
		counts, slowest.Round(time.Millisecond), stoppedIn.Round(time.Millisecond), redIn.Round(time.Millisecond),
		upAt.Sub(downAt).Round(time.Millisecond), greenIn.Round(time.Millisecond), total, recovered, orphans)
	if total < len(clients) {
		t.Errorf("only %d sessions: the load did not run", total)
	}
}
