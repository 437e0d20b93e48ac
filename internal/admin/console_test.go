package admin_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"authgate/graph"
	"authgate/internal/admin"
	"authgate/internal/auth"
	"authgate/internal/authtest"
	"authgate/internal/httpapi"
)

// browser is a console user: a TLS server (the console's cookies are
// Secure) and a client with a cookie jar, as a browser keeps them.
type browser struct {
	env    *authtest.Env
	base   string
	client *http.Client
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	env := authtest.New(t, auth.Config{})
	con, err := admin.NewConsole(env.Service, admin.ConsoleConfig{
		Roles: []string{"admin"}, IdleTimeout: 15 * time.Minute, Key: []byte("console-test-key-0123456789abcdef"),
	})
	if err != nil {
		t.Fatal(err)
	}
	h := httpapi.New(httpapi.Config{Console: con}, env.Service, graph.NewServer(env.Service, graph.Options{}), env.Store, discard())
	ts := httptest.NewTLSServer(h)
	t.Cleanup(ts.Close)
	jar, _ := cookiejar.New(nil)
	client := ts.Client()
	client.Jar = jar
	return &browser{env: env, base: ts.URL, client: client}
}

// visit is one answer: its final URL (after redirects), status and body.
type visit struct {
	URL    string
	Status int
	Body   string
	Header http.Header
}

func (b *browser) get(t *testing.T, path string) visit {
	t.Helper()
	res, err := b.client.Get(b.base + path)
	if err != nil {
		t.Fatal(err)
	}
	return read(t, res)
}

func (b *browser) post(t *testing.T, path string, form url.Values, headers ...string) visit {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.base)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := b.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return read(t, res)
}

func read(t *testing.T, res *http.Response) visit {
	t.Helper()
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return visit{URL: res.Request.URL.Path + "?" + res.Request.URL.RawQuery, Status: res.StatusCode, Body: string(body), Header: res.Header}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, v visit) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(v.Body)
	if m == nil {
		t.Fatalf("no CSRF token on %s: %s", v.URL, v.Body)
	}
	return m[1]
}

func (b *browser) signIn(t *testing.T, email string) visit {
	t.Helper()
	form := b.get(t, "/admin/signin")
	return b.post(t, "/admin/signin", url.Values{"csrf": {csrfOf(t, form)}, "email": {email}, "password": {password}})
}

func (b *browser) addUser(t *testing.T, email, role string) *auth.AuthPayload {
	t.Helper()
	if _, err := b.env.Service.AddUser(bg, email, password, role, nil); err != nil {
		t.Fatal(err)
	}
	p, err := b.env.Service.Login(bg, email, password, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConsoleSignInFindAUserAndEndASession(t *testing.T) {
	b := newBrowser(t)
	root := b.addUser(t, "root@example.com", "admin")
	victim := b.addUser(t, "victim@example.com", "user")
	other, err := b.env.Service.Login(bg, "victim@example.com", password, nil)
	if err != nil {
		t.Fatal(err)
	}

	first := b.get(t, "/admin")
	if !strings.HasPrefix(first.URL, "/admin/signin") || first.Status != http.StatusOK {
		t.Fatalf("/admin signed out: %d %s", first.Status, first.URL)
	}
	if csp := first.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "unsafe") {
		t.Fatalf("CSP %q", csp)
	}
	if v := b.signIn(t, "victim@example.com"); v.Status != http.StatusUnauthorized || !strings.Contains(v.Body, "may not administer") {
		t.Fatalf("a non-admin's sign-in: %d %s", v.Status, v.URL)
	}
	if v := b.get(t, "/admin"); !strings.HasPrefix(v.URL, "/admin/signin") {
		t.Fatal("a refused sign-in left a console session")
	}
	dash := b.signIn(t, "root@example.com")
	if dash.URL != "/admin?" || !strings.Contains(dash.Body, `id="stat-users">2<`) {
		t.Fatalf("after sign-in: %d %s %s", dash.Status, dash.URL, dash.Body)
	}
	for _, c := range b.client.Jar.Cookies(&url.URL{Scheme: "https", Host: strings.TrimPrefix(b.base, "https://"), Path: "/admin"}) {
		if c.Name == "authgate_admin" && c.Value == "" {
			t.Fatal("empty session cookie")
		}
	}

	list := b.get(t, "/admin/users?q=VICTIM")
	if !strings.Contains(list.Body, ">victim@example.com</a>") || strings.Contains(list.Body, "/admin/users/"+root.User.ID) {
		t.Fatalf("search: %s", list.Body)
	}
	page := b.get(t, "/admin/users/"+victim.User.ID)
	if !strings.Contains(page.Body, victim.SessionID) || !strings.Contains(page.Body, other.SessionID) {
		t.Fatalf("the user's page lacks its sessions: %s", page.Body)
	}
	csrf := csrfOf(t, page)
	ask := b.post(t, "/admin/users/"+victim.User.ID+"/end-session", url.Values{"csrf": {csrf}, "session": {victim.SessionID}})
	if ask.Status != http.StatusOK || !strings.Contains(ask.Body, "End the session "+victim.SessionID) || !strings.Contains(ask.Body, `name="confirm" value="yes"`) {
		t.Fatalf("no confirmation asked: %d %s", ask.Status, ask.Body)
	}
	if _, err := b.env.Service.Refresh(bg, victim.RefreshToken); err != nil {
		t.Fatalf("the session ended before confirmation: %v", err)
	}
	victim.RefreshToken = b.env.Successor(t, victim.RefreshToken)
	done := b.post(t, "/admin/users/"+victim.User.ID+"/end-session", url.Values{"csrf": {csrf}, "session": {victim.SessionID}, "confirm": {"yes"}})
	if done.Status != http.StatusOK || !strings.Contains(done.Body, "The session has ended") {
		t.Fatalf("after confirmation: %d %s", done.Status, done.Body)
	}
	if _, err := b.env.Service.Refresh(bg, victim.RefreshToken); auth.CodeOf(err) != auth.CodeInvalidRefreshToken {
		t.Fatalf("the ended session's refresh token: %v", err)
	}
	if _, err := b.env.Service.Refresh(bg, other.RefreshToken); err != nil {
		t.Fatalf("the other session ended too: %v", err)
	}
	var actor, ip string
	if err := b.env.Store.DB().QueryRow(`SELECT actor, ip FROM auth.audit_events WHERE event = 'session_revoked' AND session_id = $1`,
		victim.SessionID).Scan(&actor, &ip); err != nil || actor != root.User.ID || ip != "127.0.0.1" {
		t.Fatalf("audit row: actor %q ip %q (%v), want %s from 127.0.0.1", actor, ip, err, root.User.ID)
	}

	// Ban until a date; the trail shows it.
	b.post(t, "/admin/users/"+victim.User.ID+"/ban", url.Values{"csrf": {csrf}, "until": {"2030-02-01"}, "reason": {"spam"}, "confirm": {"yes"}})
	page = b.get(t, "/admin/users/"+victim.User.ID)
	if !strings.Contains(page.Body, "banned until 2030-02-01 00:00 UTC (spam)") || !strings.Contains(page.Body, `<td class="event">banned</td>`) {
		t.Fatalf("after the ban: %s", page.Body)
	}
	if _, err := b.env.Service.Refresh(bg, other.RefreshToken); err == nil {
		t.Fatal("the banned user's other session still refreshes")
	}

	// Sign out ends the console's own session.
	b.post(t, "/admin/signout", url.Values{"csrf": {csrf}})
	if v := b.get(t, "/admin"); !strings.HasPrefix(v.URL, "/admin/signin") {
		t.Fatalf("after sign-out: %s", v.URL)
	}
}

// A form without the session's CSRF token, with another's, or from
// another site is refused, and changes nothing.
func TestConsoleRefusesFormsWithoutItsCSRFToken(t *testing.T) {
	b := newBrowser(t)
	b.addUser(t, "root@example.com", "admin")
	victim := b.addUser(t, "victim@example.com", "user")
	page := b.signIn(t, "root@example.com")
	csrf := csrfOf(t, page)
	path := "/admin/users/" + victim.User.ID + "/end-all"
	for _, tc := range []struct {
		name    string
		form    url.Values
		headers []string
	}{
		{"no token", url.Values{"confirm": {"yes"}}, nil},
		{"a wrong token", url.Values{"confirm": {"yes"}, "csrf": {flipFirst(csrf)}}, nil},
		{"another site", url.Values{"confirm": {"yes"}, "csrf": {csrf}}, []string{"Sec-Fetch-Site", "cross-site"}},
		{"another origin", url.Values{"confirm": {"yes"}, "csrf": {csrf}}, []string{"Origin", "https://evil.example"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := b.post(t, path, tc.form, tc.headers...)
			if v.Status != http.StatusForbidden || !strings.Contains(v.Body, "CSRF") {
				t.Fatalf("%d %s", v.Status, v.Body)
			}
		})
	}
	if _, err := b.env.Service.Refresh(bg, victim.RefreshToken); err != nil {
		t.Fatalf("a refused form ended the sessions: %v", err)
	}
	// The sign-in form needs its own token too.
	if v := b.post(t, "/admin/signin", url.Values{"email": {"root@example.com"}, "password": {password}}); v.Status != http.StatusForbidden {
		t.Fatalf("sign-in without its token: %d", v.Status)
	}
}

// A console left alone longer than the idle timeout is signed out, and
// its session ended; one in use stays.
func TestConsoleSignsOutWhenIdle(t *testing.T) {
	b := newBrowser(t)
	root := b.addUser(t, "root@example.com", "admin")
	b.signIn(t, "root@example.com")
	b.env.Clock.Advance(14 * time.Minute)
	if v := b.get(t, "/admin/users"); v.URL != "/admin/users?" {
		t.Fatalf("within the timeout: %s", v.URL)
	}
	b.env.Clock.Advance(14 * time.Minute) // 28 min since sign-in, 14 since use
	if v := b.get(t, "/admin"); v.URL != "/admin?" {
		t.Fatalf("used 14 min ago: %s", v.URL)
	}
	b.env.Clock.Advance(16 * time.Minute)
	v := b.get(t, "/admin")
	if !strings.HasPrefix(v.URL, "/admin/signin?why=idle") || !strings.Contains(v.Body, "signed out after 15m0s") {
		t.Fatalf("idle: %s", v.URL)
	}
	var live int
	if err := b.env.Store.DB().Get(&live, `SELECT count(*) FROM auth.sessions WHERE user_id = $1 AND description = 'admin console' AND revoked_at IS NULL`, root.User.ID); err != nil || live != 0 {
		t.Fatalf("%d live console sessions (%v)", live, err)
	}
	// An admin whose role is taken away is out at once.
	b.signIn(t, "root@example.com")
	if err := b.env.Service.SetUserRoles(bg, "root@example.com", "user", nil); err != nil {
		t.Fatal(err)
	}
	if v := b.get(t, "/admin"); v.Status != http.StatusForbidden {
		t.Fatalf("a demoted admin: %d %s", v.Status, v.URL)
	}
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// flipFirst changes the first character of s (to one it is not).
func flipFirst(s string) string {
	if s[0] == 'x' {
		return "y" + s[1:]
	}
	return "x" + s[1:]
}
