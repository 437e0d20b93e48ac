package admin

import (
	"crypto/rand"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"authgate/internal/auth"
	"authgate/internal/logctx"
)

// ConsoleConfig configures the admin console.
type ConsoleConfig struct {
	// Roles are the roles whose accounts may sign in (AUTHGATE_ADMIN_ROLES).
	Roles []string
	// IdleTimeout signs a console out after that long unused
	// (AUTHGATE_ADMIN_CONSOLE_IDLE_TIMEOUT).
	IdleTimeout time.Duration
	// Key signs the console's cookie and its CSRF tokens; at least 32
	// bytes (the server derives it from AUTHGATE_REFRESH_TOKEN_SECRET).
	Key []byte
	// Random makes the sign-in form's nonce (nil: crypto/rand.Reader).
	Random io.Reader
}

//go:embed templates/*.html assets/console.css
var consoleFiles embed.FS

// consoleCSP lets the pages load only the console's own stylesheet and
// post forms only to the console: no script runs, nothing comes from
// another origin, no other site may frame them.
const consoleCSP = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// pageSize is how many users or events a console page lists.
const consolePageSize = 50

type console struct {
	svc   *auth.Service
	cfg   ConsoleConfig
	pages map[string]*template.Template
	css   []byte
}

// NewConsole returns the admin console: server-rendered pages under /admin
// (sign-in, dashboard, users, a user's page with its sessions and trail)
// that work without JavaScript. Every change is a POST carrying the
// session's CSRF token, confirmed on a page of its own first, and made by
// the auth.Service method the admin API and the CLI call, recorded with
// the administrator as its actor.
func NewConsole(svc *auth.Service, cfg ConsoleConfig) (http.Handler, error) {
	if len(cfg.Key) < 32 {
		return nil, fmt.Errorf("the admin console needs a key of at least 32 bytes")
	}
	if cfg.Random == nil {
		cfg.Random = rand.Reader
	}
	c := &console{svc: svc, cfg: cfg, pages: map[string]*template.Template{}}
	funcs := template.FuncMap{"when": whenAny, "ago": func(t time.Time) string { return ago(svc.Now(), t) }, "deref": derefAny}
	for _, name := range []string{"signin", "signin_mfa", "dashboard", "users", "user", "confirm", "message"} {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(consoleFiles, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, err
		}
		c.pages[name] = t
	}
	css, err := consoleFiles.ReadFile("assets/console.css")
	if err != nil {
		return nil, err
	}
	c.css = css
	mux := http.NewServeMux()
	mux.HandleFunc("GET /admin/assets/console.css", c.serveCSS)
	mux.HandleFunc("GET /admin/signin", c.signinPage)
	mux.HandleFunc("POST /admin/signin", c.signin)
	mux.HandleFunc("POST /admin/signin/mfa", c.signinMFA)
	mux.HandleFunc("POST /admin/signout", c.authed(c.signout))
	mux.HandleFunc("GET /admin", c.authed(c.dashboard))
	mux.HandleFunc("GET /admin/{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/admin", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /admin/users", c.authed(c.users))
	mux.HandleFunc("GET /admin/users/{id}", c.authed(c.user))
	mux.HandleFunc("POST /admin/users/{id}/{action}", c.authed(c.act))
	mux.HandleFunc("/admin/", func(w http.ResponseWriter, r *http.Request) {
		c.render(w, r, http.StatusNotFound, "message", page{Title: "Not found", Error: "There is no such page."})
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", consoleCSP)
		h.Set("Cache-Control", "no-store")
		h.Set("X-Frame-Options", "DENY")
		// Same-origin referrers make browsers send the console's own Origin
		// with its forms (no-referrer would make it "null").
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		mux.ServeHTTP(w, r)
	}), nil
}

// page is what every template gets.
type page struct {
	Title  string
	Admin  string // the signed-in administrator's email; "" on the sign-in page
	CSRF   string
	Notice string
	Error  string
	Data   any
}

// signedIn is the administrator a request comes from.
type signedIn struct {
	session consoleSession
	user    auth.User
	csrf    string
}

type authedHandler func(w http.ResponseWriter, r *http.Request, s signedIn)

// authed checks the console's cookie (its MAC, the idle timeout, the
// session still live, the account still an administrator) and, for a
// POST, the same-origin headers and the CSRF token; then it slides the
// idle timeout and runs h as the administrator.
func (c *console) authed(h authedHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		now := c.svc.Now()
		cookie, err := r.Cookie(sessionCookie)
		if err != nil {
			c.toSignin(w, r, "")
			return
		}
		sess, ok := openSession(c.cfg.Key, cookie.Value)
		if !ok {
			clearCookie(w, sessionCookie)
			c.toSignin(w, r, "")
			return
		}
		if now.Sub(sess.LastSeen) > c.cfg.IdleTimeout {
			c.endSession(r, sess)
			clearCookie(w, sessionCookie)
			c.toSignin(w, r, "idle")
			return
		}
		u, err := c.svc.AuthorizeConsole(r.Context(), sess.UserID, sess.SessionID, c.cfg.Roles)
		switch {
		case err == nil:
		case auth.CodeOf(err) == auth.CodeUnauthenticated:
			clearCookie(w, sessionCookie)
			c.toSignin(w, r, "ended")
			return
		case auth.CodeOf(err) == auth.CodeForbidden:
			c.endSession(r, sess)
			clearCookie(w, sessionCookie)
			c.render(w, r, http.StatusForbidden, "message", page{Title: "Forbidden", Error: "This account no longer has an administrative role."})
			return
		default:
			c.fail(w, r, err)
			return
		}
		s := signedIn{session: sess, user: u, csrf: csrfToken(c.cfg.Key, "form", sess.SessionID)}
		if r.Method == http.MethodPost {
			if !sameOrigin(r) || !csrfValid(c.cfg.Key, "form", sess.SessionID, r.PostFormValue("csrf")) {
				c.render(w, r, http.StatusForbidden, "message", page{Title: "Refused", Admin: u.Email, CSRF: s.csrf,
					Error: "The form was refused: its CSRF token is missing or wrong, or it came from another site. Go back, reload the page and try again."})
				return
			}
		}
		sess.LastSeen = now
		setCookie(w, sessionCookie, sess.seal(c.cfg.Key), int(c.cfg.IdleTimeout/time.Second))
		r = r.WithContext(auth.WithActor(r.Context(), u.ID))
		h(w, r, s)
	}
}

// sameOrigin refuses a request a browser says comes from another site
// (the CSRF token is checked besides).
func sameOrigin(r *http.Request) bool {
	site := r.Header.Get("Sec-Fetch-Site")
	if site != "" && site != "same-origin" && site != "none" {
		return false
	}
	if origin := r.Header.Get("Origin"); origin != "" && !(origin == "null" && site == "same-origin") {
		u, err := url.Parse(origin)
		if err != nil || u.Host != r.Host {
			return false
		}
	}
	return true
}

// endSession ends the authgate session a console sign-in opened.
func (c *console) endSession(r *http.Request, sess consoleSession) {
	ctx := auth.WithPrincipal(r.Context(), auth.Principal{UserID: sess.UserID, SessionID: sess.SessionID})
	if _, err := c.svc.RevokeSession(ctx, sess.SessionID); err != nil && auth.CodeOf(err) != auth.CodeNotFound {
		logctx.From(r.Context()).Warn("ending a console session", "error", err)
	}
}

func (c *console) toSignin(w http.ResponseWriter, r *http.Request, why string) {
	target := "/admin/signin"
	if why != "" {
		target += "?why=" + why
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

func (c *console) serveCSS(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(c.css)
}

// signinPage shows the sign-in form with a fresh nonce: its cookie and the
// form's token must come back together.
func (c *console) signinPage(w http.ResponseWriter, r *http.Request) {
	c.showSignin(w, r, http.StatusOK, "")
}

func (c *console) showSignin(w http.ResponseWriter, r *http.Request, status int, problem string) {
	nonce := make([]byte, 32)
	if _, err := io.ReadFull(c.cfg.Random, nonce); err != nil {
		c.fail(w, r, err)
		return
	}
	value := base64.RawURLEncoding.EncodeToString(nonce)
	setCookie(w, signinCookie, value, 600)
	p := page{Title: "Sign in", CSRF: csrfToken(c.cfg.Key, "signin", value), Error: problem}
	switch r.URL.Query().Get("why") {
	case "idle":
		p.Notice = fmt.Sprintf("You were signed out after %s without activity.", c.cfg.IdleTimeout)
	case "ended":
		p.Notice = "Your console session has ended. Sign in again."
	case "out":
		p.Notice = "You are signed out."
	}
	c.render(w, r, status, "signin", p)
}

// signin checks the password as a sign-in anywhere does (the throttle
// too), then keeps the session only for an administrator.
func (c *console) signin(w http.ResponseWriter, r *http.Request) {
	nonce, err := r.Cookie(signinCookie)
	if err != nil || !sameOrigin(r) || !csrfValid(c.cfg.Key, "signin", nonce.Value, r.PostFormValue("csrf")) {
		c.showSignin(w, r, http.StatusForbidden, "The sign-in form expired or came from another site: try again.")
		return
	}
	desc := "admin console"
	p, err := c.svc.Login(r.Context(), r.PostFormValue("email"), r.PostFormValue("password"), &desc)
	var ae *auth.Error
	if errors.As(err, &ae) && ae.Code == auth.CodeMFARequired {
		// The account has a second factor: ask for its code, on the same
		// sign-in nonce.
		c.render(w, r, http.StatusOK, "signin_mfa", page{Title: "Second factor", CSRF: r.PostFormValue("csrf"), Data: ae.Ticket})
		return
	}
	c.finishSignin(w, r, p, err)
}

// signinMFA finishes a sign-in whose account has a second factor: a TOTP
// code (6 digits) or a recovery code, with the ticket the first step gave.
func (c *console) signinMFA(w http.ResponseWriter, r *http.Request) {
	nonce, err := r.Cookie(signinCookie)
	if err != nil || !sameOrigin(r) || !csrfValid(c.cfg.Key, "signin", nonce.Value, r.PostFormValue("csrf")) {
		c.showSignin(w, r, http.StatusForbidden, "The sign-in form expired or came from another site: try again.")
		return
	}
	desc := "admin console"
	ticket, code := r.PostFormValue("ticket"), strings.TrimSpace(r.PostFormValue("code"))
	var p *auth.AuthPayload
	if len(code) == 6 && strings.Trim(code, "0123456789") == "" {
		p, err = c.svc.CompleteMFA(r.Context(), ticket, &code, nil, &desc)
	} else {
		p, err = c.svc.CompleteMFA(r.Context(), ticket, nil, &code, &desc)
	}
	var ae *auth.Error
	if errors.As(err, &ae) && ae.Code == auth.CodeInvalidMFACode && ae.Reason == "code" {
		c.render(w, r, http.StatusUnauthorized, "signin_mfa", page{Title: "Second factor", CSRF: r.PostFormValue("csrf"), Data: ticket,
			Error: "That code is not right: try the current one."})
		return
	}
	c.finishSignin(w, r, p, err)
}

// finishSignin keeps the session of a sign-in only for an administrator.
func (c *console) finishSignin(w http.ResponseWriter, r *http.Request, p *auth.AuthPayload, err error) {
	if err != nil {
		switch auth.CodeOf(err) {
		case auth.CodeRateLimited, auth.CodeUnavailable:
			c.showSignin(w, r, http.StatusTooManyRequests, err.(*auth.Error).Message)
		case auth.CodeInternal:
			c.fail(w, r, err)
		case auth.CodeInvalidMFACode:
			c.showSignin(w, r, http.StatusUnauthorized, "The second step expired: sign in again.")
		default:
			c.showSignin(w, r, http.StatusUnauthorized, "Wrong email or password, or the account may not administer.")
		}
		return
	}
	sess := consoleSession{UserID: p.User.ID, SessionID: p.SessionID, LastSeen: c.svc.Now()}
	if !auth.IsAdmin(*p.User, c.cfg.Roles) {
		c.endSession(r, sess)
		c.showSignin(w, r, http.StatusUnauthorized, "Wrong email or password, or the account may not administer.")
		return
	}
	clearCookie(w, signinCookie)
	setCookie(w, sessionCookie, sess.seal(c.cfg.Key), int(c.cfg.IdleTimeout/time.Second))
	http.Redirect(w, r, "/admin", http.StatusSeeOther)
}

func (c *console) signout(w http.ResponseWriter, r *http.Request, s signedIn) {
	c.endSession(r, s.session)
	clearCookie(w, sessionCookie)
	http.Redirect(w, r, "/admin/signin?why=out", http.StatusSeeOther)
}

func (c *console) dashboard(w http.ResponseWriter, r *http.Request, s signedIn) {
	st, err := c.svc.Stats(r.Context())
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.render(w, r, http.StatusOK, "dashboard", s.page("Dashboard", st))
}

type usersData struct {
	Search string
	Users  []userRow
	Total  int
	Next   string
}

type userRow struct {
	auth.User
	Status string
}

func (c *console) users(w http.ResponseWriter, r *http.Request, s signedIn) {
	q := r.URL.Query()
	first := consolePageSize
	page, err := c.svc.Users(r.Context(), q.Get("q"), &first, q.Get("after"))
	if err != nil {
		c.failPage(w, r, s, err)
		return
	}
	total, err := c.svc.CountUsers(r.Context(), page.Search)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	d := usersData{Search: q.Get("q"), Total: total}
	for _, u := range page.Users {
		d.Users = append(d.Users, userRow{User: u, Status: c.status(u)})
	}
	if page.HasNextPage {
		v := url.Values{"after": {auth.UserCursor(page.Users[len(page.Users)-1])}}
		if d.Search != "" {
			v.Set("q", d.Search)
		}
		d.Next = "/admin/users?" + v.Encode()
	}
	p := s.page("Users", d)
	if r.URL.Query().Get("done") == "delete" {
		p.Notice = "The user was deleted; its sessions have ended."
	}
	c.render(w, r, http.StatusOK, "users", p)
}

func (c *console) status(u auth.User) string {
	switch {
	case u.Disabled:
		return "disabled"
	case c.svc.Banned(u):
		return "banned until " + when(*u.BannedUntil)
	}
	return "active"
}

type userData struct {
	User     auth.UserDetail
	Status   string
	Banned   bool
	Claims   string
	Sessions []auth.AdminSession
	Events   []eventRow
	Older    string
	BanDate  string
}

type eventRow struct {
	auth.AuditEvent
	Detail string
}

func (c *console) user(w http.ResponseWriter, r *http.Request, s signedIn) {
	c.showUser(w, r, s, http.StatusOK, "")
}

func (c *console) showUser(w http.ResponseWriter, r *http.Request, s signedIn, status int, problem string) {
	ctx := r.Context()
	id := r.PathValue("id")
	if strings.Contains(id, "@") {
		id = ""
	}
	u, err := c.svc.User(ctx, id, "")
	if err != nil && auth.CodeOf(err) != auth.CodeBadUserInput {
		c.fail(w, r, err)
		return
	}
	if u == nil {
		c.render(w, r, http.StatusNotFound, "message", page{Title: "No such user", Admin: s.user.Email, CSRF: s.csrf, Error: "There is no user with this id."})
		return
	}
	sessions, err := c.svc.UserSessions(ctx, u.ID, false)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	first := consolePageSize
	trail, err := c.svc.AuditEvents(ctx, auth.AuditQuery{UserID: u.ID}, &first, r.URL.Query().Get("after"))
	if err != nil {
		c.failPage(w, r, s, err)
		return
	}
	d := userData{User: *u, Status: c.status(u.User), Banned: c.svc.Banned(u.User), Sessions: sessions,
		BanDate: c.svc.Now().AddDate(0, 0, 7).UTC().Format(time.DateOnly)}
	var names []string
	for k := range u.Claims {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		d.Claims += k + "=" + u.Claims[k] + "\n"
	}
	for _, e := range trail.Events {
		d.Events = append(d.Events, eventRow{AuditEvent: e, Detail: detailText(e.Detail)})
	}
	if trail.HasNextPage {
		d.Older = "/admin/users/" + u.ID + "?after=" + url.QueryEscape(auth.AuditCursor(trail.Events[len(trail.Events)-1]))
	}
	p := s.page(u.Email, d)
	p.Error = problem
	if problem == "" {
		p.Notice = doneNotice[r.URL.Query().Get("done")]
	}
	c.render(w, r, status, "user", p)
}

// doneNotice is what the user's page says after an action.
var doneNotice = map[string]string{
	"end-session": "The session has ended; its tokens no longer work.",
	"end-all":     "Every session of this user has ended.",
	"ban":         "The user is banned; every session has ended.",
	"unban":       "The ban is lifted.",
	"disable":     "The user is disabled; every session has ended.",
	"enable":      "The user is enabled again.",
	"roles":       "The roles are saved; they reach the user's tokens at the next refresh.",
	"claims":      "The claims are saved; they reach the user's tokens at the next refresh.",
}

// actions are the changes a user's page offers: what the confirmation asks
// and what runs once confirmed.
var actions = map[string]struct {
	ask func(email string, f url.Values) string
	run func(c *console, r *http.Request, id string) error
}{
	"end-session": {
		func(email string, f url.Values) string {
			return fmt.Sprintf("End the session %s of %s? Its tokens stop working at once.", f.Get("session"), email)
		},
		func(c *console, r *http.Request, id string) error {
			return c.svc.EndSession(r.Context(), r.PostFormValue("session"))
		},
	},
	"end-all": {
		func(email string, _ url.Values) string {
			return fmt.Sprintf("End every session of %s? Every token it holds stops working at once.", email)
		},
		func(c *console, r *http.Request, id string) error {
			_, err := c.svc.RevokeUserSessions(r.Context(), id)
			return err
		},
	},
	"ban": {
		func(email string, f url.Values) string {
			return fmt.Sprintf("Ban %s until %s (reason: %q)? Every session ends now.", email, f.Get("until"), f.Get("reason"))
		},
		func(c *console, r *http.Request, id string) error {
			until, err := time.Parse(time.DateOnly, r.PostFormValue("until"))
			if err != nil {
				return &auth.Error{Code: auth.CodeBadUserInput, Message: "the ban's end must be a date (2030-01-31)"}
			}
			_, err = c.svc.BanUser(r.Context(), id, until, strings.TrimSpace(r.PostFormValue("reason")))
			return err
		},
	},
	"unban": {
		func(email string, _ url.Values) string { return fmt.Sprintf("Lift the ban of %s?", email) },
		func(c *console, r *http.Request, id string) error { return c.svc.UnbanUser(r.Context(), id) },
	},
	"disable": {
		func(email string, _ url.Values) string {
			return fmt.Sprintf("Disable %s? Every session ends now and it cannot sign in.", email)
		},
		func(c *console, r *http.Request, id string) error {
			return c.svc.SetUserDisabled(r.Context(), id, true)
		},
	},
	"enable": {
		func(email string, _ url.Values) string { return fmt.Sprintf("Enable %s again?", email) },
		func(c *console, r *http.Request, id string) error {
			return c.svc.SetUserDisabled(r.Context(), id, false)
		},
	},
	"roles": {
		func(email string, f url.Values) string {
			return fmt.Sprintf("Give %s the default role %q and the roles %q?", email, f.Get("default"), f.Get("allowed"))
		},
		func(c *console, r *http.Request, id string) error {
			return c.svc.SetUserRoles(r.Context(), id, r.PostFormValue("default"), strings.Split(r.PostFormValue("allowed"), ","))
		},
	},
	"claims": {
		func(email string, f url.Values) string {
			return fmt.Sprintf("Replace the custom claims of %s with:\n%s", email, f.Get("claims"))
		},
		func(c *console, r *http.Request, id string) error {
			claims, err := parseClaimLines(r.PostFormValue("claims"))
			if err != nil {
				return err
			}
			_, err = c.svc.SetUserClaims(r.Context(), id, claims)
			return err
		},
	},
	"delete": {
		func(email string, _ url.Values) string {
			return fmt.Sprintf("Delete %s? Its sessions end at once; its audit trail stays. This cannot be undone.", email)
		},
		func(c *console, r *http.Request, id string) error {
			_, err := c.svc.DeleteUser(r.Context(), id)
			return err
		},
	},
}

type confirmData struct {
	Question string
	Action   string
	Fields   [][2]string
	Back     string
}

// act asks for confirmation of a change, then (confirm=yes) makes it.
func (c *console) act(w http.ResponseWriter, r *http.Request, s signedIn) {
	id, name := r.PathValue("id"), r.PathValue("action")
	a, ok := actions[name]
	if !ok || strings.Contains(id, "@") {
		c.render(w, r, http.StatusNotFound, "message", page{Title: "Not found", Admin: s.user.Email, CSRF: s.csrf, Error: "There is no such action."})
		return
	}
	u, err := c.svc.User(r.Context(), id, "")
	if err != nil && auth.CodeOf(err) != auth.CodeBadUserInput {
		c.fail(w, r, err)
		return
	}
	if u == nil {
		c.render(w, r, http.StatusNotFound, "message", page{Title: "No such user", Admin: s.user.Email, CSRF: s.csrf, Error: "There is no user with this id."})
		return
	}
	back := "/admin/users/" + u.ID
	if r.PostFormValue("confirm") != "yes" {
		d := confirmData{Question: a.ask(u.Email, r.PostForm), Action: back + "/" + name, Back: back}
		var keys []string
		for k := range r.PostForm {
			if k != "csrf" && k != "confirm" {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			d.Fields = append(d.Fields, [2]string{k, r.PostForm.Get(k)})
		}
		c.render(w, r, http.StatusOK, "confirm", s.page("Confirm", d))
		return
	}
	if err := a.run(c, r, u.ID); err != nil {
		var ae *auth.Error
		if !errors.As(err, &ae) || ae.Code == auth.CodeInternal || ae.Code == auth.CodeUnavailable {
			c.fail(w, r, err)
			return
		}
		c.showUser(w, r, s, http.StatusBadRequest, ae.Message)
		return
	}
	if name == "delete" {
		http.Redirect(w, r, "/admin/users?done=delete", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, back+"?done="+name, http.StatusSeeOther)
}

// parseClaimLines reads name=value lines (blank lines skipped).
func parseClaimLines(text string) (map[string]string, error) {
	claims := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		if !ok || strings.TrimSpace(name) == "" {
			return nil, &auth.Error{Code: auth.CodeBadUserInput, Message: fmt.Sprintf("%q is not name=value", line)}
		}
		claims[strings.TrimSpace(name)] = strings.TrimSpace(value)
	}
	return claims, nil
}

func (s signedIn) page(title string, data any) page {
	return page{Title: title, Admin: s.user.Email, CSRF: s.csrf, Data: data}
}

// failPage shows a client's mistake (a bad cursor) on a page, and fails
// on anything else.
func (c *console) failPage(w http.ResponseWriter, r *http.Request, s signedIn, err error) {
	if auth.CodeOf(err) == auth.CodeBadUserInput {
		c.render(w, r, http.StatusBadRequest, "message", page{Title: "Bad request", Admin: s.user.Email, CSRF: s.csrf, Error: err.(*auth.Error).Message})
		return
	}
	c.fail(w, r, err)
}

func (c *console) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, msg := http.StatusInternalServerError, "Something went wrong; it has been logged."
	if auth.CodeOf(err) == auth.CodeUnavailable {
		status, msg = http.StatusServiceUnavailable, "The database does not answer; try again in a moment."
	} else {
		logctx.From(r.Context()).Error("admin console", "error", err)
	}
	logctx.SetOutcome(r.Context(), logctx.Outcome{Code: string(auth.CodeOf(err))})
	c.render(w, r, status, "message", page{Title: "Error", Error: msg})
}

func (c *console) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := c.pages[name].Execute(w, p); err != nil {
		logctx.From(r.Context()).Log(r.Context(), slog.LevelError, "admin console template", "page", name, "error", err)
	}
}

func when(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

// whenAny is when for templates, of a time or a pointer to one ("" for nil).
func whenAny(v any) string {
	switch t := v.(type) {
	case time.Time:
		return when(t)
	case *time.Time:
		if t != nil {
			return when(*t)
		}
	}
	return ""
}

// derefAny is what a pointer in a template points to ("" for nil).
func derefAny(v any) any {
	switch p := v.(type) {
	case *string:
		if p != nil {
			return *p
		}
	case *int:
		if p != nil {
			return *p
		}
	default:
		return v
	}
	return ""
}

func ago(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h ago", int(d/time.Hour))
	}
	return fmt.Sprintf("%d days ago", int(d/(24*time.Hour)))
}

func detailText(d map[string]any) string {
	if len(d) == 0 {
		return ""
	}
	keys := make([]string, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s=%v", k, d[k])
	}
	return b.String()
}
