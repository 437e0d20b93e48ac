package oidc

import (
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"authgate/internal/auth"
	"authgate/internal/config"
	"authgate/internal/redirect"
)

// CookiePrefix starts the name of every flow cookie (after "__Host-" but
// on plain-http localhost); the rest is derived from the flow's state, so
// flows started in several tabs each keep their own cookie.
const CookiePrefix = "authgate_flow_"

// MaxParallelFlows is how many flow cookies a browser keeps: /start
// expires the oldest beyond it. Each /start sets one for the flow's
// lifetime, and a page that keeps sending a window it opened to /start
// would otherwise pile them up until the browser's Cookie header is more
// than proxies take and authgate's other cookies fall out of the
// browser's per-site limit.
const MaxParallelFlows = 3

// cookiePath scopes flow cookies to the /auth/ routes on plain-http
// localhost; elsewhere they are __Host- cookies, which need Path=/.
const cookiePath = "/auth/"

// hostCookiePrefix makes browsers take a flow cookie only from authgate's
// own host (Secure, Path=/, no Domain): a sibling subdomain cannot plant
// an attacker's flow in a victim's browser (cookie tossing, login CSRF).
const hostCookiePrefix = "__Host-"

// Result is what a /start or /callback answer does: redirect the browser
// to Location (a provider, or the app's page with ?code= or ?error=), or,
// when Location is empty, show a plain error page for Err (no checked page
// to send the browser to). Cookies are set either way. Err, when set, is
// what went wrong (also when the app's page is told through ?error=).
type Result struct {
	Location string
	Cookies  []*http.Cookie
	Err      error
}

// flow is what a flow cookie holds, sealed: everything /callback checks the
// provider's answer against.
type flow struct {
	State      string `json:"s"`
	Nonce      string `json:"n,omitempty"`
	Verifier   string `json:"v"`
	RedirectTo string `json:"r"`
	Provider   string `json:"p"`
	Link       string `json:"l,omitempty"`
	// Challenge is the app's PKCE S256 challenge (not the one sent to the
	// provider, whose verifier is Verifier): stored with the auth code.
	Challenge string `json:"c,omitempty"`
	Expires   int64  `json:"e"`
}

// CookieName is the name of the flow cookie of the flow with this state on
// plain-http localhost; elsewhere it is "__Host-" + CookieName.
func CookieName(state string) string {
	sum := sha256.Sum256([]byte("authgate flow cookie: " + state))
	return CookiePrefix + hex.EncodeToString(sum[:10])
}

// Start begins a browser sign-in with provider id: it checks redirectTo
// against the allow-list ("" means AUTHGATE_APP_URL) and the link token
// when one is given, then redirects to the provider with state, nonce and
// a PKCE S256 challenge, setting the flow cookie. codeChallenge, when not
// "", is the app's own PKCE S256 challenge, carried in the flow cookie to
// the callback, which issues the auth code bound to it (auth.IssueAuthCode).
// Codes: UNKNOWN_PROVIDER and BAD_USER_INPUT (a redirectTo not allowed or a
// malformed codeChallenge: no redirect, an error page, no cookie),
// PROVIDER_ERROR (discovery failed), and the link token's.
// cookies are those the browser sent: the oldest of its flow cookies are
// expired beyond MaxParallelFlows.
func (s *Service) Start(ctx context.Context, id, redirectTo, linkToken, codeChallenge string, cookies ...*http.Cookie) Result {
	p, err := s.lookup(id)
	if err != nil {
		return Result{Err: err}
	}
	back, err := s.opts.Redirects.Resolve(redirectTo)
	if err != nil {
		return Result{Err: &auth.Error{Code: auth.CodeBadUserInput, Message: "redirectTo is not allowed (AUTHGATE_REDIRECT_URLS): " + err.Error(), Err: err}}
	}
	if codeChallenge != "" {
		// Refused like a bad redirectTo: a page, since the app that sent it
		// is broken, and an app's page must not be told ?error= by a request
		// anyone can forge.
		if err := auth.CheckCodeChallenge(codeChallenge); err != nil {
			return Result{Err: err}
		}
	}
	fail := func(err error) Result { return Result{Location: errorURL(back, err), Err: err} }
	if p.cfg.Type == config.ProviderApple {
		return fail(&auth.Error{Code: auth.CodeBadUserInput, Message: "Apple's browser sign-in (form_post) is not supported: use signInWithIdToken with the ID token of Sign in with Apple"})
	}
	if linkToken != "" {
		madeFor, err := s.accounts.CheckIdentityLink(ctx, linkToken)
		if err != nil {
			return fail(err)
		}
		if madeFor != id {
			return fail(&auth.Error{Code: auth.CodeInvalidAuthCode, Message: "the identity link was made for another provider"})
		}
	}
	var d *gooidc.Provider
	if p.cfg.OpenID() {
		if d, err = s.discover(ctx, p); err != nil {
			return fail(err)
		}
	}
	f := flow{RedirectTo: back.String(), Provider: id, Link: linkToken, Challenge: codeChallenge, Expires: s.opts.Clock.Now().Add(s.opts.FlowTTL).Unix()}
	if f.State, err = s.randomString(32); err != nil {
		return fail(err)
	}
	if f.Verifier, err = s.randomString(32); err != nil {
		return fail(err)
	}
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(f.Verifier)}
	if p.cfg.OpenID() {
		if f.Nonce, err = s.randomString(32); err != nil {
			return fail(err)
		}
		opts = append(opts, gooidc.Nonce(f.Nonce))
	}
	plain, err := json.Marshal(f)
	if err != nil {
		return fail(err)
	}
	cookie := s.cookie(s.cookieName(f.State), base64URL(s.box.Seal(plain)), int(s.opts.FlowTTL.Seconds()))
	return Result{Location: s.oauth2Config(p, d).AuthCodeURL(f.State, opts...), Cookies: append([]*http.Cookie{cookie}, s.staleFlowCookies(cookies)...)}
}

// staleFlowCookies returns the cookies that expire, of the flow cookies a
// browser sent to /start, those a new flow pushes out: all but the newest
// MaxParallelFlows-1 (by their sealed expiry), and any that does not open.
func (s *Service) staleFlowCookies(sent []*http.Cookie) []*http.Cookie {
	type held struct {
		name    string
		expires int64
	}
	prefix := CookiePrefix
	if !s.opts.InsecureCookie {
		prefix = hostCookiePrefix + CookiePrefix
	}
	seen := map[string]bool{}
	var flows []held
	var stale []*http.Cookie
	for _, c := range sent {
		if !strings.HasPrefix(c.Name, prefix) || seen[c.Name] {
			continue
		}
		seen[c.Name] = true
		f, err := s.openFlow(c.Value)
		if err != nil {
			stale = append(stale, s.cookie(c.Name, "", -1))
			continue
		}
		flows = append(flows, held{c.Name, f.Expires})
	}
	slices.SortStableFunc(flows, func(a, b held) int { return cmp.Compare(b.expires, a.expires) })
	for i, f := range flows {
		if i >= MaxParallelFlows-1 {
			stale = append(stale, s.cookie(f.name, "", -1))
		}
	}
	return stale
}

// cookie is a flow cookie: HttpOnly, SameSite=Lax (the provider's redirect
// back is a top-level GET, which Lax lets through), Secure with Path=/ (a
// __Host- cookie) but on a plain-http localhost, where it is scoped to
// /auth/.
func (s *Service) cookie(name, value string, maxAge int) *http.Cookie {
	path := "/"
	if s.opts.InsecureCookie {
		path = cookiePath
	}
	return &http.Cookie{Name: name, Value: value, Path: path, MaxAge: maxAge,
		HttpOnly: true, Secure: !s.opts.InsecureCookie, SameSite: http.SameSiteLaxMode}
}

// cookieName is the name of the flow cookie of the flow with this state:
// CookieName, as a __Host- cookie but on plain-http localhost (where a
// cookie cannot be Secure).
func (s *Service) cookieName(state string) string {
	if s.opts.InsecureCookie {
		return CookieName(state)
	}
	return hostCookiePrefix + CookieName(state)
}

// errFlow is the answer for a callback that belongs to no flow of this
// browser: a forged or replayed state, a missing cookie, a cookie of
// another flow.
func errFlow(cause error) *auth.Error {
	return &auth.Error{Code: auth.CodeBadUserInput, Message: "this sign-in is unknown to this browser or has expired: start it again from the app", Err: cause}
}

// Callback finishes a browser sign-in at /auth/{id}/callback: it finds the
// flow cookie the state names and checks it (sealed by this server, same
// state, same provider, not expired), checks iss (RFC 9207), exchanges the
// code with the PKCE verifier, verifies the ID token (signature, issuer,
// audience, expiry, nonce) or asks GitHub's user API, then asks Accounts
// for a one-time code and redirects to redirectTo?code=. Failures before
// the flow is known are an error page (BAD_USER_INPUT, UNKNOWN_PROVIDER);
// later ones redirect to redirectTo?error=CODE&error_description=.
func (s *Service) Callback(ctx context.Context, id string, query url.Values, cookies []*http.Cookie) Result {
	p, err := s.lookup(id)
	if err != nil {
		return Result{Err: err}
	}
	state := query.Get("state")
	if state == "" {
		return Result{Err: errFlow(errors.New("no state"))}
	}
	name := s.cookieName(state)
	var raw string
	for _, c := range cookies {
		if c.Name == name {
			raw = c.Value
		}
	}
	if raw == "" {
		return Result{Err: errFlow(errors.New("no flow cookie for this state"))}
	}
	// The cookie is spent whatever happens next.
	clear := []*http.Cookie{s.cookie(name, "", -1)}
	f, err := s.openFlow(raw)
	if err != nil {
		return Result{Cookies: clear, Err: errFlow(err)}
	}
	if subtle.ConstantTimeCompare([]byte(f.State), []byte(state)) != 1 || f.Provider != id {
		return Result{Cookies: clear, Err: errFlow(errors.New("the flow cookie belongs to another flow"))}
	}
	// The redirect target was checked at /start and is sealed: it can be
	// used from here on.
	back, err := url.Parse(f.RedirectTo)
	if err != nil {
		return Result{Cookies: clear, Err: errFlow(err)}
	}
	fail := func(err error) Result { return Result{Location: errorURL(back, err), Cookies: clear, Err: err} }
	if !s.opts.Clock.Now().Before(time.Unix(f.Expires, 0)) {
		return fail(errFlow(errors.New("the flow expired")))
	}
	if e := query.Get("error"); e != "" {
		return fail(providerError("the identity provider refused the sign-in: "+truncate(e, 60), errors.New(truncate(query.Get("error_description"), 200))))
	}
	ident, err := s.identify(ctx, p, f, query)
	if err != nil {
		return fail(err)
	}
	code, err := s.accounts.IssueAuthCode(ctx, ident, f.Link, f.Challenge)
	if err != nil {
		return fail(err)
	}
	return Result{Location: withQuery(back, "code", code), Cookies: clear}
}

// identify checks the provider's answer and returns what it asserts.
func (s *Service) identify(ctx context.Context, p *provider, f flow, query url.Values) (Identity, error) {
	var d *gooidc.Provider
	if p.cfg.OpenID() {
		var err error
		if d, err = s.discover(ctx, p); err != nil {
			return Identity{}, err
		}
		// RFC 9207: an iss sent must be this provider's (a mix-up attack
		// otherwise); one promised by discovery must be sent.
		iss, sent := query["iss"]
		if sent && (len(iss) != 1 || iss[0] != p.cfg.Issuer && iss[0] != p.cfg.Issuer+"/") {
			return Identity{}, providerError("the answer names another issuer (iss)", nil)
		}
		if !sent && p.issParameter {
			return Identity{}, providerError("the answer lacks the iss parameter its provider promises", nil)
		}
	}
	code := query.Get("code")
	if code == "" {
		return Identity{}, providerError("the identity provider's answer carries no code", nil)
	}
	ctx = s.clientContext(ctx)
	tok, err := s.oauth2Config(p, d).Exchange(ctx, code, oauth2.VerifierOption(f.Verifier))
	if err != nil {
		return Identity{}, providerError("the identity provider did not accept the sign-in's code", err)
	}
	if !p.cfg.OpenID() {
		return s.githubIdentity(ctx, p, tok)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return Identity{}, providerError("the identity provider sent no ID token", nil)
	}
	idt, err := s.verifier(d, p.cfg.ClientID).Verify(ctx, raw)
	if err != nil {
		return Identity{}, providerError("the identity provider's ID token did not verify", err)
	}
	if issuedToAnotherApp(idt, []string{p.cfg.ClientID}) {
		return Identity{}, providerError("the identity provider's ID token was issued to another app (azp)", nil)
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(f.Nonce)) != 1 {
		return Identity{}, providerError("the ID token's nonce is not this sign-in's", nil)
	}
	ident, err := identityFromToken(p.cfg.ID, idt)
	if err != nil {
		return Identity{}, err
	}
	if ident.Email == "" && d.UserInfoEndpoint() != "" {
		// Some providers keep the email out of the ID token: ask the
		// userinfo endpoint, for this same subject only.
		info, err := d.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			return Identity{}, providerError("the identity provider's userinfo endpoint failed", err)
		}
		if info.Subject == ident.Subject {
			var claims struct {
				EmailVerified stringBool `json:"email_verified"`
			}
			_ = info.Claims(&claims)
			ident.Email, ident.EmailVerified = info.Email, info.Email != "" && bool(claims.EmailVerified)
		}
	}
	return ident, nil
}

// identityFromToken reads sub, email and email_verified (a boolean, or
// Apple's "true" string) from a verified ID token.
func identityFromToken(providerID string, t *gooidc.IDToken) (Identity, error) {
	var claims struct {
		Email         string     `json:"email"`
		EmailVerified stringBool `json:"email_verified"`
	}
	if err := t.Claims(&claims); err != nil {
		return Identity{}, providerError("the ID token's claims do not parse", err)
	}
	if t.Subject == "" {
		return Identity{}, providerError("the ID token has no subject", nil)
	}
	return Identity{Provider: providerID, Subject: t.Subject, Email: claims.Email, EmailVerified: claims.Email != "" && bool(claims.EmailVerified)}, nil
}

// stringBool is a JSON boolean that may arrive as a string ("true").
type stringBool bool

func (b *stringBool) UnmarshalJSON(data []byte) error {
	switch string(data) {
	case "true", `"true"`:
		*b = true
	default:
		*b = false
	}
	return nil
}

// openFlow opens a flow cookie's value.
func (s *Service) openFlow(raw string) (flow, error) {
	sealed, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil {
		return flow{}, err
	}
	plain, err := s.box.Open(sealed)
	if err != nil {
		return flow{}, err
	}
	var f flow
	if err := json.Unmarshal(plain, &f); err != nil {
		return flow{}, err
	}
	return f, nil
}

// errorURL is the app's page told that the sign-in failed, with the code
// and message of err (INTERNAL with a generic message for an error that is
// not an auth.Error).
func errorURL(back *url.URL, err error) string {
	code, message := auth.CodeOf(err), "internal error"
	var ae *auth.Error
	if errors.As(err, &ae) {
		message = ae.Message
	}
	return withQuery(back, "error", string(code), "error_description", message)
}

// withQuery is redirect.WithQuery, dropping first what a flow's answer sets
// (code, error, error_description) so a redirectTo carrying its own cannot
// smuggle one through.
func withQuery(u *url.URL, kv ...string) string {
	out := *u
	q := out.Query()
	for _, k := range []string{"code", "error", "error_description"} {
		q.Del(k)
	}
	out.RawQuery = q.Encode()
	return redirect.WithQuery(&out, kv...)
}

func base64URL(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
