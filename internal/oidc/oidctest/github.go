package oidctest

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
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

// GitHub speaks GitHub's OAuth (GET /login/oauth/authorize, POST
// /login/oauth/access_token, PKCE S256 checked) and user API (GET /user,
// GET /user/emails) shapes. The test hands out codes with Code, or has
// /login/oauth/authorize sign in SignedIn and redirect back with one; each
// code is good once.
type GitHub struct {
	URL          string
	ClientID     string
	ClientSecret string

	mu         sync.Mutex
	codes      map[string]GitHubUser
	challenges map[string]string // code → its PKCE challenge, when authorize made it
	issued     int
	tokens     map[string]GitHubUser
	// SignedIn is who /login/oauth/authorize signs in (as if they
	// approved at GitHub).
	SignedIn GitHubUser
}

// NewGitHub starts a fake GitHub; it stops at the end of the test.
func NewGitHub(t testing.TB, clientID, clientSecret string) *GitHub {
	t.Helper()
	g := &GitHub{ClientID: clientID, ClientSecret: clientSecret, codes: map[string]GitHubUser{}, challenges: map[string]string{}, tokens: map[string]GitHubUser{}}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	g.URL = srv.URL
	mux.HandleFunc("GET /login/oauth/authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("client_id") != g.ClientID || q.Get("code_challenge_method") != "S256" || q.Get("state") == "" {
			http.Error(w, "bad authorization request", http.StatusBadRequest)
			return
		}
		g.mu.Lock()
		user := g.SignedIn
		g.mu.Unlock()
		code := g.Code(user)
		g.mu.Lock()
		g.challenges[code] = q.Get("code_challenge")
		g.mu.Unlock()
		back := q.Get("redirect_uri") + "?" + url.Values{"code": {code}, "state": {q.Get("state")}}.Encode()
		http.Redirect(w, r, back, http.StatusFound)
	})
	mux.HandleFunc("POST /login/oauth/access_token", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		g.mu.Lock()
		defer g.mu.Unlock()
		code := r.Form.Get("code")
		user, ok := g.codes[code]
		delete(g.codes, code)
		if challenge, made := g.challenges[code]; made {
			sum := sha256.Sum256([]byte(r.Form.Get("code_verifier")))
			ok = ok && base64.RawURLEncoding.EncodeToString(sum[:]) == challenge
		}
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
	g.issued++
	code := "code" + strconv.Itoa(g.issued)
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
