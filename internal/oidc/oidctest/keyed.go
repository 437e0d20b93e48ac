package oidctest

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// KeyedProvider is an OpenID provider whose ID tokens the test signs with
// Sign: discovery, a JWKS holding Key's public half, and a token endpoint
// that answers every code with the ID token NextIDToken says. It serves
// tokens a real provider never would (another audience, an expired one).
type KeyedProvider struct {
	Issuer string
	Server *httptest.Server
	Key    *rsa.PrivateKey
	// ISSParameter makes discovery promise RFC 9207's iss parameter.
	ISSParameter bool
	// Discoveries counts the requests for the discovery document.
	Discoveries atomic.Int64
	// JWKSStatus, when not 0, is the status the JWKS endpoint answers
	// with instead of the keys (a provider whose keys are unreachable).
	JWKSStatus atomic.Int32
	// JWKSFetches counts the requests for the JWKS.
	JWKSFetches atomic.Int64

	mu sync.Mutex
	// nextIDToken, given the code, returns the token endpoint's ID token.
	nextIDToken func(code string) string
}

// NewKeyedProvider starts a KeyedProvider; it stops at the end of the test.
func NewKeyedProvider(t testing.TB) *KeyedProvider {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	k := &KeyedProvider{Key: key}
	mux := http.NewServeMux()
	k.Server = httptest.NewServer(mux)
	t.Cleanup(k.Server.Close)
	k.Issuer = k.Server.URL
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		k.Discoveries.Add(1)
		writeJSON(w, map[string]any{
			"issuer": k.Issuer, "authorization_endpoint": k.Issuer + "/authorize", "token_endpoint": k.Issuer + "/token",
			"jwks_uri": k.Issuer + "/jwks", "id_token_signing_alg_values_supported": []string{"RS256"},
			"response_types_supported": []string{"code"}, "subject_types_supported": []string{"public"},
			"authorization_response_iss_parameter_supported": k.ISSParameter,
		})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		k.JWKSFetches.Add(1)
		if status := k.JWKSStatus.Load(); status != 0 {
			w.WriteHeader(int(status))
			return
		}
		writeJSON(w, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "test-key", Algorithm: "RS256", Use: "sig"}}})
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil || r.Form.Get("code_verifier") == "" {
			w.WriteHeader(http.StatusBadRequest)
			writeJSON(w, map[string]string{"error": "invalid_request"})
			return
		}
		k.mu.Lock()
		next := k.nextIDToken
		k.mu.Unlock()
		if next == nil {
			w.WriteHeader(http.StatusBadRequest)
			writeJSON(w, map[string]string{"error": "invalid_grant"})
			return
		}
		writeJSON(w, map[string]any{"access_token": "at-" + r.Form.Get("code"), "token_type": "Bearer", "expires_in": 300,
			"id_token": next(r.Form.Get("code"))})
	})
	return k
}

// NextIDToken sets what the token endpoint answers with.
func (k *KeyedProvider) NextIDToken(f func(code string) string) {
	k.mu.Lock()
	k.nextIDToken = f
	k.mu.Unlock()
}

// Sign returns claims signed as a JWT with key (k.Key when nil).
func (k *KeyedProvider) Sign(t testing.TB, claims map[string]any, key *rsa.PrivateKey) string {
	t.Helper()
	if key == nil {
		key = k.Key
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: "test-key"}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
