package oidc

import (
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
	t, err := s.verifier(d, "").Verify(s.clientContext(ctx), idToken)
	if err != nil {
		// go-oidc says "did not verify" for a bad signature and for keys it
		// could not fetch alike (its errors are text): asking jwks_uri
		// ourselves tells the provider's failure from the caller's.
		if unreachable := s.probeKeysAtMostOnceIn(ctx, p, d); unreachable != nil {
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

// probeKeysAtMostOnceIn returns probeKeys' answer for p, asking jwks_uri at
// most once per discoveryRetry (by the service's clock) and once at a time:
// anyone can send failing tokens, and each must not cost the provider a
// request (an amplifier that gets authgate rate-limited by the provider).
func (s *Service) probeKeysAtMostOnceIn(ctx context.Context, p *provider, d *gooidc.Provider) error {
	p.probeMu.Lock()
	defer p.probeMu.Unlock()
	now := s.opts.Clock.Now()
	if !p.probedAt.IsZero() && now.Sub(p.probedAt) < discoveryRetry && !now.Before(p.probedAt) {
		return p.probed
	}
	// The outcome is shared: a caller that hangs up must not make it a
	// failure for the others (the HTTP client's timeout bounds it).
	p.probed, p.probedAt = s.probeKeys(context.WithoutCancel(ctx), d), now
	return p.probed
}

// maxJWKSBytes bounds the key set probeKeys reads.
const maxJWKSBytes = 1 << 20

// probeKeys fetches the provider's key set (jwks_uri) once and returns why
// it cannot be used: no answer, a status other than 200, or a body that is
// no key set with a key. nil means the keys are there, so a token that did
// not verify is the token's fault. It runs only after a verification
// failed (one more request to the provider for a bad token, as go-oidc
// itself makes for a token whose key it does not know).
func (s *Service) probeKeys(ctx context.Context, d *gooidc.Provider) error {
	var doc struct {
		JWKSURI string `json:"jwks_uri"`
	}
	if err := d.Claims(&doc); err != nil || doc.JWKSURI == "" {
		return errors.New("the discovery document names no jwks_uri")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, doc.JWKSURI, nil)
	if err != nil {
		return err
	}
	res, err := s.opts.HTTPClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("jwks_uri answered %s", res.Status)
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.NewDecoder(io.LimitReader(res.Body, maxJWKSBytes)).Decode(&set); err != nil || len(set.Keys) == 0 {
		return errors.New("jwks_uri answered no key set")
	}
	return nil
}
