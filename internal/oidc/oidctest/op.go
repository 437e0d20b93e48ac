// Package oidctest runs identity providers for tests: a real OpenID
// provider (zitadel/oidc's op package with its example storage and login
// form), a small provider whose ID tokens a test signs itself (for tokens a
// real provider would never issue: another audience, a wrong nonce,
// expired), and a server speaking GitHub's OAuth and user-API shapes.
//
// Ory Hydra, the first choice, is not used: building it does not fit
// CI's time; zitadel/oidc's provider is a certified OpenID provider library
// that builds with the rest of the tests.
package oidctest

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"golang.org/x/text/language"
)

// ClientID and ClientSecret are the OP's client for authgate.
const (
	ClientID     = "authgate"
	ClientSecret = "authgate-test-secret"
	Password     = "verysecure"
)

// Users of the OP (username = the key; password: Password).
var Users = map[string]*storage.User{
	// alice's email is verified by the provider.
	"alice": {ID: "sub-alice", Username: "alice", Password: Password, FirstName: "Alice", LastName: "A",
		Email: "alice@example.com", EmailVerified: true, PreferredLanguage: language.English},
	// mallory claims victim@example.com without the provider verifying it.
	"mallory": {ID: "sub-mallory", Username: "mallory", Password: Password, FirstName: "Mallory", LastName: "M",
		Email: "victim@example.com", EmailVerified: false, PreferredLanguage: language.English},
	// bob's email is verified; tests use him for a second account.
	"bob": {ID: "sub-bob", Username: "bob", Password: Password, FirstName: "Bob", LastName: "B",
		Email: "bob@example.com", EmailVerified: true, PreferredLanguage: language.English},
}

type userStore struct{}

func (userStore) GetUserByID(id string) *storage.User {
	for _, u := range Users {
		if u.ID == id {
			return u
		}
	}
	return nil
}

func (userStore) GetUserByUsername(name string) *storage.User { return Users[name] }
func (userStore) ExampleClientID() string                     { return "service" }

// OP is a running OpenID provider.
type OP struct {
	Issuer string
	Server *httptest.Server
}

// NewOP starts an OpenID provider that knows the client ClientID with the
// redirect URIs given; it stops at the end of the test.
func NewOP(t testing.TB, redirectURIs ...string) *OP {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	issuer := "http://" + srv.Listener.Addr().String()
	srv.Config.Handler = Handler(issuer, redirectURIs...)
	srv.Start()
	t.Cleanup(srv.Close)
	return &OP{Issuer: issuer, Server: srv}
}

// Handler is the OpenID provider at issuer, with its login form under
// /login/, knowing the client ClientID (secret ClientSecret) with the
// redirect URIs given and the users of Users.
func Handler(issuer string, redirectURIs ...string) http.Handler {
	clients := map[string]*storage.Client{ClientID: storage.WebClient(ClientID, ClientSecret, redirectURIs...)}
	st := storage.NewStorageWithClients(userStore{}, clients)
	op := exampleop.SetupServer(issuer, st, nil, false)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The example's login page names no icon: a browser asks for one,
		// and a 404 would be a console error in the browser test.
		if r.URL.Path == "/favicon.ico" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		op.ServeHTTP(w, r)
	})
}

// Browser is a test browser: it follows redirects and keeps cookies, and
// stops at the first redirect to a URL that Stop says is not its to follow
// (authgate's callback, the app's page).
type Browser struct {
	Client *http.Client
}

// NewBrowser returns a browser stopping before any URL whose host is one of
// stopHosts.
func NewBrowser(stopHosts ...string) *Browser {
	jar := newJar()
	return &Browser{Client: &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		for _, h := range stopHosts {
			if req.URL.Host == h {
				return http.ErrUseLastResponse
			}
		}
		if len(via) > 20 {
			return fmt.Errorf("too many redirects")
		}
		return nil
	}}}
}

// LogIn follows authURL (a provider's authorization URL) to the OP's login
// form, signs in as user, and returns the URL the OP then redirects the
// browser to (the callback with code and state).
func (b *Browser) LogIn(t testing.TB, authURL, user string) *url.URL {
	t.Helper()
	resp, err := b.Client.Get(authURL)
	if err != nil {
		t.Fatalf("GET the authorization URL: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	id := resp.Request.URL.Query().Get("authRequestID")
	if resp.StatusCode != http.StatusOK || id == "" {
		t.Fatalf("the OP's login page: %d %s: %.300s", resp.StatusCode, resp.Request.URL, body)
	}
	form := url.Values{"username": {user}, "password": {Password}, "id": {id}}
	login := resp.Request.URL.ResolveReference(&url.URL{Path: "/login/username"})
	resp, err = b.Client.PostForm(login.String(), form)
	if err != nil {
		t.Fatalf("POST the login form: %v", err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || loc == "" {
		t.Fatalf("the OP did not redirect back after the login: %d %.300s", resp.StatusCode, body)
	}
	u, err := resp.Request.URL.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// Authorize follows authURL without logging in and returns where the OP
// sends the browser first (its login page), for tests that only need the
// OP to accept the request.
func (b *Browser) Authorize(t testing.TB, authURL string) *http.Response {
	t.Helper()
	resp, err := b.Client.Get(authURL)
	if err != nil {
		t.Fatalf("GET the authorization URL: %v", err)
	}
	resp.Body.Close()
	return resp
}

// HostOf is u's host (host:port).
func HostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Host
}

// replaceParam returns rawURL with query parameter name set to value.
func ReplaceParam(rawURL, name, value string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return rawURL
	}
	q := u.Query()
	q.Set(name, value)
	u.RawQuery = q.Encode()
	return strings.TrimSpace(u.String())
}
