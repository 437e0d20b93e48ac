package bench

import (
	"context"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"sync/atomic"

	"authgate/internal/refreshtoken"
)

// Operation names, in the order a run measures them.
const (
	opLogin          = "login"
	opRefreshGraphQL = "refresh_graphql"
	opRefreshActions = "refresh_actions"
	opMySessions     = "my_sessions"
	opWebhook        = "webhook"
)

// OperationNames lists every operation the tool measures, in run order.
func OperationNames() []string {
	return []string{opLogin, opRefreshGraphQL, opRefreshActions, opMySessions, opWebhook}
}

func knownOperation(name string) bool { return slices.Contains(OperationNames(), name) }

// operation is one kind of request; run sends one and returns "" on success
// or an error code (the server's extensions.code, HTTP_<status>, TIMEOUT…).
type operation struct {
	name  string
	label string
	run   func(ctx context.Context, w *worker) string
}

// target is the server under test and what every client shares.
type target struct {
	hc           *http.Client
	base         string // http://127.0.0.1:<port>
	actionSecret string
	webhookPath  string
	keys         *refreshtoken.Keys
	users        int
	password     string

	// logins counts successful logins (warm-up included): each made a
	// session. loginsUnknown counts logins whose answer was lost.
	logins        atomic.Int64
	loginsUnknown atomic.Int64
}

// session is a seeded session a client owns: its latest refresh token.
type session struct{ token string }

// worker is one client: its own sessions, chained, and the access token of
// its latest refresh. A worker is used by one goroutine at a time.
type worker struct {
	t        *target
	sessions []*session
	next     int
	access   string
	rng      *rand.Rand
	buf      []byte
	// wire is the worker's own connection to t (see wireClient).
	wire *wireClient
}

// send is one request from w to its target over w's own connection.
func (w *worker) send(ctx context.Context, method, path string, body []byte, headers ...string) (response, error) {
	if w.wire == nil || w.wire.base != w.t.base {
		w.closeConn()
		wc, err := newWireClient(w.t.base)
		if err != nil {
			return response{}, err
		}
		w.wire = wc
	}
	return w.wire.do(ctx, method, path, body, headers...)
}

// closeConn closes w's connection; the next request opens another.
func (w *worker) closeConn() {
	if w.wire != nil {
		w.wire.close()
	}
}

// closeConns closes every worker's connection.
func closeConns(ws []*worker) {
	for _, w := range ws {
		w.closeConn()
	}
}

func newWorkers(t *target, tokens []string, clients, perClient int) []*worker {
	ws := make([]*worker, clients)
	for i := range ws {
		w := &worker{t: t, rng: rand.New(rand.NewPCG(uint64(i)+1, 0x5eed)), buf: make([]byte, 0, 512)}
		for _, tok := range tokens[i*perClient : (i+1)*perClient] {
			w.sessions = append(w.sessions, &session{token: tok})
		}
		ws[i] = w
	}
	return ws
}

var operations = map[string]operation{
	opLogin:          {name: opLogin, label: "login (GraphQL)", run: func(ctx context.Context, w *worker) string { return w.login(ctx) }},
	opRefreshGraphQL: {name: opRefreshGraphQL, label: "refreshToken /graphql", run: func(ctx context.Context, w *worker) string { return w.refresh(ctx, false) }},
	opRefreshActions: {name: opRefreshActions, label: "refreshToken /actions", run: func(ctx context.Context, w *worker) string { return w.refresh(ctx, true) }},
	opMySessions:     {name: opMySessions, label: "mySessions (GraphQL)", run: func(ctx context.Context, w *worker) string { return w.mySessions(ctx) }},
	opWebhook:        {name: opWebhook, label: "Hasura auth webhook", run: func(ctx context.Context, w *worker) string { return w.webhook(ctx) }},
}

// refresh rotates the worker's next session, round robin, with the token the
// previous rotation returned, as an app does. On failure the session keeps
// its token: a retry within the grace window gets the same successor.
func (w *worker) refresh(ctx context.Context, viaActions bool) string {
	s := w.sessions[w.next%len(w.sessions)]
	w.next++
	tk, code := w.refreshToken(ctx, s.token, viaActions, w.buf[:0])
	if tk.RefreshToken != "" {
		s.token = tk.RefreshToken
		w.access = tk.AccessToken
	}
	return code
}

// refreshToken sends one refreshToken request. A success whose new token is
// not the successor of the old (same session, next generation, the server's
// current key: anything else would be a fork) is reported as
// UNEXPECTED_SUCCESSOR, with the tokens it returned.
func (w *worker) refreshToken(ctx context.Context, token string, viaActions bool, buf []byte) (tokens, string) {
	var (
		res response
		err error
	)
	t := w.t
	if viaActions {
		res, err = w.send(ctx, http.MethodPost, "/actions", refreshActionBody(buf, token), "X-Action-Secret", t.actionSecret)
	} else {
		res, err = w.send(ctx, http.MethodPost, "/graphql", refreshGraphQLBody(buf, token))
	}
	if err != nil {
		return tokens{}, transportCode(err)
	}
	var (
		tk   tokens
		code string
	)
	if viaActions {
		tk, code = decodeActionTokens(res)
	} else {
		tk, code = decodeGraphQLTokens(res, "refreshToken")
	}
	if code != "" {
		return tokens{}, code
	}
	if !t.keys.Follows(token, tk.RefreshToken) {
		return tk, "UNEXPECTED_SUCCESSOR"
	}
	return tk, ""
}

// login signs in as a random seeded user; every success opens a session.
func (w *worker) login(ctx context.Context) string {
	email := seedEmail(w.rng.IntN(w.t.users) + 1)
	res, err := w.send(ctx, http.MethodPost, "/graphql", loginGraphQLBody(w.buf[:0], email, w.t.password))
	if err != nil {
		w.t.loginsUnknown.Add(1)
		return transportCode(err)
	}
	tk, code := decodeGraphQLTokens(res, "login")
	if code != "" {
		return code
	}
	w.t.logins.Add(1)
	if w.access == "" {
		w.access = tk.AccessToken
	}
	return ""
}

// mySessions lists the sessions of the user of the worker's access token.
func (w *worker) mySessions(ctx context.Context) string {
	if w.access == "" {
		return "NO_ACCESS_TOKEN"
	}
	res, err := w.send(ctx, http.MethodPost, "/graphql", mySessionsBody, "Authorization", "Bearer "+w.access)
	if err != nil {
		return transportCode(err)
	}
	_, code := decodeMySessions(res)
	return code
}

// webhook asks the Hasura auth webhook about the worker's access token, the
// way Hasura does (GET, the client's Authorization header forwarded).
func (w *worker) webhook(ctx context.Context) string {
	if w.access == "" {
		return "NO_ACCESS_TOKEN"
	}
	res, err := w.send(ctx, http.MethodGet, w.t.webhookPath, nil, "Authorization", "Bearer "+w.access)
	if err != nil {
		return transportCode(err)
	}
	if res.status != http.StatusOK {
		return "HTTP_" + strconv.Itoa(res.status)
	}
	return ""
}

// seedEmail is the email of seeded user g (1-based).
func seedEmail(g int) string { return "user" + strconv.Itoa(g) + "@bench.test" }
