// Package oidc signs users in with identity providers: OpenID Connect
// providers found by discovery (and the google, microsoft and apple presets),
// and GitHub's OAuth 2 with its user API. It runs the browser's
// authorization-code flow (PKCE S256, state and nonce bound to the browser by
// a sealed cookie, RFC 9207's iss), verifies ID tokens with go-oidc (JWKS
// signature, issuer, audience, expiry) and verifies the ID tokens native apps
// bring (signInWithIdToken). What the provider asserted then goes to the
// accounts side (auth.Service), which finds, links or creates the user.
package oidc

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"sync"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"authgate/internal/auth"
	"authgate/internal/clock"
	"authgate/internal/config"
	"authgate/internal/redirect"
	"authgate/internal/sealbox"
)

// Error codes this package answers with (besides those of Accounts).
const (
	CodeUnknownProvider = auth.CodeUnknownProvider
	CodeProviderError   = auth.CodeProviderError
)

// DefaultFlowTTL is how long a browser has from /start to /callback.
const DefaultFlowTTL = 10 * time.Minute

// discoveryRetry is how long a failed discovery is remembered before the
// next sign-in asks the provider again: a provider that is down is not
// asked on every request, and one that is back is used within seconds.
const discoveryRetry = 5 * time.Second

// Identity is what a provider asserted about its user, after verification.
type Identity = auth.ExternalIdentity

// Accounts is the accounts side this package hands a verified identity to
// (implemented by *auth.Service).
type Accounts interface {
	// IssueAuthCode finds, links or creates the user (or links the
	// identity to the user linkToken names) and returns the one-time code
	// the callback appends to redirectTo, bound to the app's PKCE
	// codeChallenge when it is not "".
	IssueAuthCode(ctx context.Context, id Identity, linkToken, codeChallenge string) (string, error)
	// CheckIdentityLink validates (without consuming) a link token and
	// returns the provider it was made for.
	CheckIdentityLink(ctx context.Context, linkToken string) (string, error)
	// SignInWithIdentity signs the user of a native ID token in.
	SignInWithIdentity(ctx context.Context, id Identity, description *string) (*auth.AuthPayload, error)
}

// Options configure a Service.
type Options struct {
	Providers []config.Provider
	// Redirects is where a flow may return the browser to.
	Redirects *redirect.AllowList
	// Secret keys the flow cookie's seal (at least sealbox.MinSecretLength
	// bytes); Previous still open cookies sealed before a rotation.
	Secret   []byte
	Previous [][]byte
	// InsecureCookie drops the cookie's Secure flag: only for a plain-http
	// AUTHGATE_PUBLIC_URL on localhost, in development.
	InsecureCookie bool
	// FlowTTL bounds a flow from /start to /callback (DefaultFlowTTL when
	// 0).
	FlowTTL time.Duration
	Clock   clock.Clock
	// HTTPClient talks to providers (a client with a timeout when nil).
	HTTPClient *http.Client
	// Random is where state, nonce and PKCE verifiers come from
	// (crypto/rand when nil).
	Random io.Reader
}

// Service runs provider sign-ins. It is safe for concurrent use.
type Service struct {
	opts      Options
	accounts  Accounts
	box       *sealbox.Box
	providers map[string]*provider
}

// provider is one configured provider and, for OpenID ones, its discovery
// (made at first use, retried after a failure).
type provider struct {
	cfg config.Provider

	mu        sync.Mutex
	discovery *gooidc.Provider
	// issParameter: discovery says the provider sends RFC 9207's iss.
	issParameter bool
	failedAt     time.Time
	failure      error

	// keys watches the key-set requests of discovery's key set.
	keys *keyFetches
}

// New returns a Service for the configured providers; it makes no request
// (discovery happens at first use). It fails when the secret is too short.
func New(opts Options, accounts Accounts) (*Service, error) {
	if opts.FlowTTL <= 0 {
		opts.FlowTTL = DefaultFlowTTL
	}
	if opts.Clock == nil {
		opts.Clock = clock.System{}
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if opts.Random == nil {
		opts.Random = rand.Reader
	}
	box, err := sealbox.New("authgate oidc flow cookie v1", opts.Secret, opts.Previous...)
	if err != nil {
		return nil, err
	}
	s := &Service{opts: opts, accounts: accounts, box: box, providers: map[string]*provider{}}
	for _, p := range opts.Providers {
		s.providers[p.ID] = &provider{cfg: p, keys: newKeyFetches(opts.HTTPClient)}
	}
	return s, nil
}

// errUnknownProvider is the answer for a provider id not configured.
func errUnknownProvider() *auth.Error {
	return &auth.Error{Code: CodeUnknownProvider, Message: "no identity provider has this id"}
}

func providerError(message string, cause error) *auth.Error {
	return &auth.Error{Code: CodeProviderError, Message: message, Err: cause}
}

// lookup returns the configured provider with this id.
func (s *Service) lookup(id string) (*provider, error) {
	p, ok := s.providers[id]
	if !ok {
		return nil, errUnknownProvider()
	}
	return p, nil
}

// clientContext makes go-oidc and oauth2 use the service's HTTP client.
func (s *Service) clientContext(ctx context.Context) context.Context {
	ctx = gooidc.ClientContext(ctx, s.opts.HTTPClient)
	return context.WithValue(ctx, oauth2.HTTPClient, s.opts.HTTPClient)
}

// discover returns the provider's discovery, fetching it when it is not
// known yet (PROVIDER_ERROR when the provider does not answer or its
// document is wrong; the next call after discoveryRetry asks again).
func (s *Service) discover(ctx context.Context, p *provider) (*gooidc.Provider, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.discovery != nil {
		return p.discovery, nil
	}
	if p.failure != nil && s.opts.Clock.Now().Sub(p.failedAt) < discoveryRetry {
		return nil, providerError("the identity provider "+p.cfg.ID+" does not answer; try again later", p.failure)
	}
	// The discovery outlives this request: it is cached and its key set
	// is fetched later, so it must not be bound to the request's context.
	// Its key set is fetched through p.keys, which tells a failed fetch
	// from keys that refuse a token (see SignInWithIdToken).
	d, err := gooidc.NewProvider(gooidc.ClientContext(context.WithoutCancel(ctx), p.keys.client), p.cfg.Issuer)
	if err != nil {
		p.failure, p.failedAt = err, s.opts.Clock.Now()
		return nil, providerError("the identity provider "+p.cfg.ID+" does not answer; try again later", err)
	}
	var extra struct {
		ISSParameter bool   `json:"authorization_response_iss_parameter_supported"`
		JWKSURI      string `json:"jwks_uri"`
	}
	if err := d.Claims(&extra); err != nil {
		return nil, providerError("the identity provider "+p.cfg.ID+" sent a discovery document that does not parse", err)
	}
	p.keys.watch(extra.JWKSURI)
	p.discovery, p.issParameter, p.failure = d, extra.ISSParameter, nil
	return d, nil
}

// CheckDiscovery fetches the discovery document of provider id now (for
// `authgate providers`); nil for a provider without one (github).
func (s *Service) CheckDiscovery(ctx context.Context, id string) error {
	p, err := s.lookup(id)
	if err != nil {
		return err
	}
	if !p.cfg.OpenID() {
		return nil
	}
	_, err = s.discover(ctx, p)
	return err
}

// oauth2Config is the provider's OAuth 2 client.
func (s *Service) oauth2Config(p *provider, d *gooidc.Provider) *oauth2.Config {
	c := &oauth2.Config{
		ClientID: p.cfg.ClientID, ClientSecret: p.cfg.ClientSecret,
		RedirectURL: p.cfg.CallbackURL, Scopes: p.cfg.Scopes,
	}
	if d != nil {
		c.Endpoint = d.Endpoint()
	} else {
		c.Endpoint = oauth2.Endpoint{AuthURL: p.cfg.AuthURL, TokenURL: p.cfg.TokenURL, AuthStyle: oauth2.AuthStyleInParams}
	}
	return c
}

// verifier checks ID tokens of provider p for the audiences given (the
// signature by the provider's JWKS, issuer, expiry by the service's clock).
func (s *Service) verifier(d *gooidc.Provider, clientID string) *gooidc.IDTokenVerifier {
	return d.Verifier(&gooidc.Config{ClientID: clientID, SkipClientIDCheck: clientID == "", Now: s.opts.Clock.Now})
}

// randomString returns n random bytes, base64url-encoded.
func (s *Service) randomString(n int) (string, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(s.opts.Random, b); err != nil {
		return "", errors.Join(errors.New("reading randomness"), err)
	}
	return base64URL(b), nil
}

var _ Accounts = (*auth.Service)(nil)
