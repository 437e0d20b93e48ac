package oidctest

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
)

// GitHubUser is a user of the fake GitHub.
type GitHubUser struct {
	ID     int64
	Login  string
	Emails []map[string]any // as GET /user/emails answers: email, primary, verified
}

// GitHub speaks GitHub's OAuth (POST /login/oauth/access_token) and user
// API (GET /user, GET /user/emails) shapes. The test hands out codes with
// Code; each code is good once.
type GitHub struct {
	URL          string
	ClientID     string
	ClientSecret string

	mu     sync.Mutex
	codes  map[string]GitHubUser
	tokens map[string]GitHubUser
}

// NewGitHub starts a fake GitHub; it stops at the end of the test.
func NewGitHub(t testing.TB, clientID, clientSecret string) *GitHub {
	t.Helper()
	g := &GitHub{ClientID: clientID, ClientSecret: clientSecret, codes: map[string]GitHubUser{}, tokens: map[string]GitHubUser{}}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	g.URL = srv.URL
	mux.HandleFunc("POST /login/oauth/access_token", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		g.mu.Lock()
		defer g.mu.Unlock()
		user, ok := g.codes[r.Form.Get("code")]
		delete(g.codes, r.Form.Get("code"))
		// GitHub answers 200 with an error body for a bad code.
		if !ok || r.Form.Get("client_id") != g.ClientID || r.Form.Get("client_secret") != g.ClientSecret || r.Form.Get("code_verifier") == "" {
			writeJSON(w, map[string]string{"error": "bad_verification_code", "error_description": "The code passed is incorrect or expired."})
			return
		}
		token := "gho_" + r.Form.Get("code")
		g.tokens[token] = user
		writeJSON(w, map[string]string{"access_token": token, "token_type": "bearer", "scope": "read:user,user:email"})
	})
	mux.HandleFunc("GET /user", func(w http.ResponseWriter, r *http.Request) {
		user, ok := g.user(r)
		if !ok {
			w.WriteHeader(http.StatusUnauthorized)
			writeJSON(w, map[string]string{"message": "Bad credentials"})
			return
		}
		writeJSON(w, map[string]any{"id": user.ID, "login": user.Login, "node_id": "U_" + strconv.FormatInt(user.ID, 10)})
	})
	mux.HandleFunc("GET /user/emails", func(w http.ResponseWriter, r *http.Request) {
		user, ok := g.user(r)
		if !ok {
			w.WriteHeader(http.StatusUnauthorized)
			writeJSON(w, map[string]string{"message": "Bad credentials"})
			return
		}
		writeJSON(w, user.Emails)
	})
	return g
}

// Code returns a one-time authorization code that signs user in.
func (g *GitHub) Code(user GitHubUser) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	code := "code" + strconv.Itoa(len(g.codes)+len(g.tokens)+1)
	g.codes[code] = user
	return code
}

func (g *GitHub) user(r *http.Request) (GitHubUser, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	const prefix = "Bearer "
	h := r.Header.Get("Authorization")
	if len(h) <= len(prefix) || h[:len(prefix)] != prefix {
		return GitHubUser{}, false
	}
	u, ok := g.tokens[h[len(prefix):]]
	return u, ok
}
