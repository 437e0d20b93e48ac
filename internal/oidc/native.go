package oidc

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"

	gooidc "github.com/coreos/go-oidc/v3/oidc"

	"authgate/internal/auth"
)

// errBadIDToken is the answer for a native ID token that does not verify.
func errBadIDToken(message string, cause error) *auth.Error {
	return &auth.Error{Code: auth.CodeInvalidCredentials, Message: message, Err: cause}
}

// SignInWithIdToken signs in with an ID token a native app got from
// provider (Sign in with Google or Apple on a phone): the token must be
// signed by one of the provider's keys (its JWKS), name the provider as
// issuer, be unexpired, and have the entry's client_id or one of its
// client_ids as audience. When nonce is given, the token's nonce claim must
// be it, or its SHA-256 in hex (what Apple's SDK and Firebase-style apps
// put in the request); a token carrying a nonce needs the nonce argument.
// Then auth's SignInWithIdentity finds, links or creates the user.
// Codes: UNKNOWN_PROVIDER (also for github, which has no ID tokens),
// INVALID_CREDENTIALS (the token does not verify), PROVIDER_ERROR
// (discovery failed, or the provider's keys cannot be fetched), and
// SignInWithIdentity's.
func (s *Service) SignInWithIdToken(ctx context.Context, providerID, idToken string, nonce, description *string) (*auth.AuthPayload, error) {
	p, err := s.lookup(providerID)
	if err != nil {
		return nil, err
	}
	if !p.cfg.OpenID() {
		return nil, &auth.Error{Code: CodeUnknownProvider, Message: "this provider has no ID tokens (GitHub): use the browser sign-in"}
	}
	d, err := s.discover(ctx, p)
	if err != nil {
		return nil, err
	}
	// The audience is checked below, against every client id of the entry.
	fetchesBefore := p.keys.count()
	t, err := s.verifier(d, "").Verify(s.clientContext(ctx), idToken)
	if err != nil {
		// go-oidc says "did not verify" for a bad signature and for keys it
		// could not fetch alike (its errors are text): how its own fetch of
		// the key set for this token ended tells the provider's failure
		// from the caller's.
		if unreachable := p.keys.failedSince(fetchesBefore); unreachable != nil {
			return nil, providerError("the identity provider "+p.cfg.ID+"'s keys cannot be fetched; try again later", errors.Join(unreachable, err))
		}
		return nil, errBadIDToken("the ID token did not verify (signature, issuer or expiry)", err)
	}
	allowed := append([]string{p.cfg.ClientID}, p.cfg.ClientIDs...)
	if !slices.ContainsFunc(t.Audience, func(aud string) bool { return slices.Contains(allowed, aud) }) {
		return nil, errBadIDToken("the ID token was issued for another app (aud)", nil)
	}
	if issuedToAnotherApp(t, allowed) {
		return nil, errBadIDToken("the ID token was issued to another app (azp)", nil)
	}
	switch {
	case nonce != nil && !nonceMatches(t.Nonce, *nonce):
		return nil, errBadIDToken("the ID token's nonce is not the one given", nil)
	case nonce == nil && t.Nonce != "":
		return nil, errBadIDToken("the ID token carries a nonce: pass it as the nonce argument", nil)
	}
	ident, err := identityFromToken(p.cfg.ID, t)
	if err != nil {
		return nil, errBadIDToken("the ID token's claims are not usable", err)
	}
	return s.accounts.SignInWithIdentity(ctx, ident, description)
}

// issuedToAnotherApp reports whether a token with several audiences names
// as its authorized party (azp) a client that is none of allowed: another
// app's token that merely lists this one among its audiences (OpenID
// Connect Core §3.1.3.7). A single audience decides alone: Google's Android
// tokens name the web client as aud and the Android client as azp.
func issuedToAnotherApp(t *gooidc.IDToken, allowed []string) bool {
	if len(t.Audience) < 2 {
		return false
	}
	var c struct {
		AZP string `json:"azp"`
	}
	if t.Claims(&c) != nil {
		return true
	}
	return c.AZP != "" && !slices.Contains(allowed, c.AZP)
}

// nonceMatches reports whether a token's nonce claim is nonce itself or
// its SHA-256 in lower-case hex.
func nonceMatches(claim, nonce string) bool {
	if nonce == "" || claim == "" {
		return false
	}
	sum := sha256.Sum256([]byte(nonce))
	hashed := hex.EncodeToString(sum[:])
	return subtle.ConstantTimeCompare([]byte(claim), []byte(nonce)) == 1 ||
		subtle.ConstantTimeCompare([]byte(claim), []byte(hashed)) == 1
}

// keyFetches is the transport of a provider's key-set requests (go-oidc
// fetches the key set, through the provider's HTTP client, when a token's
// key is not among those it holds): it passes each request on and, once
// discovery is done, remembers how the last one ended (no answer, a status other
// than 200, or a body that is no key set with a key). go-oidc fetches once
// more for every token its keys do not verify, so after a failed
// verification that outcome is this token's, and no request is added.
type keyFetches struct {
	client *http.Client // discovery's, so its key set's too
	next   http.RoundTripper

	mu      sync.Mutex
	jwksURI string // set once discovery names it
	fetches uint64
	last    error
}

// maxJWKSBytes bounds the key set keyFetches reads.
const maxJWKSBytes = 1 << 20

// newKeyFetches returns a keyFetches whose client is like base but sends
// its requests through it.
func newKeyFetches(base *http.Client) *keyFetches {
	k := &keyFetches{client: new(http.Client)}
	*k.client = *base
	k.next = cmp.Or[http.RoundTripper](base.Transport, http.DefaultTransport)
	k.client.Transport = k
	return k
}

// watch makes k remember the requests from now on: discovery is done and
// named jwksURI.
func (k *keyFetches) watch(jwksURI string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.jwksURI = jwksURI
}

// count returns how many key-set requests have ended.
func (k *keyFetches) count() uint64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.fetches
}

// failedSince returns why the last key-set request failed, when one ended
// after count returned before (nil when none did or it succeeded), or that
// discovery named no key set.
func (k *keyFetches) failedSince(before uint64) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.jwksURI == "" {
		return errors.New("the discovery document names no jwks_uri")
	}
	if k.fetches == before {
		return nil
	}
	return k.last
}

func (k *keyFetches) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := k.next.RoundTrip(req)
	k.mu.Lock()
	// After discovery the client makes no other requests (a redirect's
	// hops included: the last one's outcome is what go-oidc gets).
	watched := k.jwksURI != ""
	k.mu.Unlock()
	if !watched {
		return res, err
	}
	outcome := err
	if err == nil {
		outcome = checkKeySet(res)
	}
	k.mu.Lock()
	k.fetches++
	k.last = outcome
	k.mu.Unlock()
	return res, err
}

// checkKeySet says why a key-set answer cannot be used; the body it reads
// is put back for go-oidc to read in turn.
func checkKeySet(res *http.Response) error {
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("jwks_uri answered %s", res.Status)
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, maxJWKSBytes))
	res.Body.Close()
	res.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return err
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if json.Unmarshal(body, &set) != nil || len(set.Keys) == 0 {
		return errors.New("jwks_uri answered no key set")
	}
	return nil
}
