package config

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
)

// Provider types: "oidc" is any OpenID provider, found by discovery; the
// others are presets that fill in what they can.
const (
	ProviderOIDC      = "oidc"
	ProviderGoogle    = "google"
	ProviderGitHub    = "github"
	ProviderMicrosoft = "microsoft"
	ProviderApple     = "apple"
)

// Provider is one entry of AUTHGATE_PROVIDERS, validated, with its preset
// applied.
type Provider struct {
	// ID names the provider in URLs (/auth/{id}/start) and in identities.
	ID   string
	Type string
	// Issuer is the OpenID issuer (discovery at Issuer +
	// /.well-known/openid-configuration); empty for github.
	Issuer       string
	ClientID     string
	ClientSecret string
	Scopes       []string
	// ClientIDs are further audiences accepted for native ID tokens
	// (signInWithIdToken): a mobile app's own client ids.
	ClientIDs []string
	// AuthURL, TokenURL and APIURL are github's OAuth and user-API
	// endpoints (GitHub's own unless the entry overrides them, e.g. for a
	// GitHub Enterprise server or a test).
	AuthURL, TokenURL, APIURL string
	// CallbackURL is AUTHGATE_PUBLIC_URL + /auth/{id}/callback: the
	// redirect URI to register with the provider.
	CallbackURL string
}

// OpenID reports whether the provider speaks OpenID Connect (has an
// issuer, discovery and ID tokens); github does not.
func (p Provider) OpenID() bool { return p.Type != ProviderGitHub }

// providerEntry is an entry as written in AUTHGATE_PROVIDERS.
type providerEntry struct {
	ID           string   `json:"id"`
	Type         string   `json:"type"`
	Issuer       string   `json:"issuer"`
	ClientID     string   `json:"client_id"`
	ClientSecret string   `json:"client_secret"`
	Scopes       []string `json:"scopes"`
	ClientIDs    []string `json:"client_ids"`
	AuthURL      string   `json:"auth_url"`
	TokenURL     string   `json:"token_url"`
	APIURL       string   `json:"api_url"`
}

// providerID is what a provider id may look like: it is a path segment
// and a value in the identities table.
var providerID = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

// providers reads AUTHGATE_PROVIDERS: a JSON array, or the path of a file
// holding one. Every problem is one line naming the entry.
func (r *reader) providers(publicURL string) []Provider {
	const name = "AUTHGATE_PROVIDERS"
	raw := strings.TrimSpace(r.getenv(name))
	if raw == "" {
		return nil
	}
	data := []byte(raw)
	if !strings.HasPrefix(raw, "[") {
		b, err := os.ReadFile(raw)
		if err != nil {
			r.fail(name, "neither a JSON array nor a readable file: %v", oneLine(err))
			return nil
		}
		data = b
	}
	var entries []json.RawMessage
	if err := json.Unmarshal(data, &entries); err != nil {
		r.fail(name, "not a JSON array of provider entries: %v", oneLine(err))
		return nil
	}
	if publicURL == "" && len(entries) > 0 {
		r.fail(name, "needs AUTHGATE_PUBLIC_URL: the callback URL is AUTHGATE_PUBLIC_URL + /auth/{id}/callback")
		return nil
	}
	if len(entries) > 0 && !secureURL(publicURL) {
		r.fail("AUTHGATE_PUBLIC_URL", "%q is not an https URL (plain http only for localhost): providers redirect browsers to it", publicURL)
		return nil
	}
	out := make([]Provider, 0, len(entries))
	for i, rawEntry := range entries {
		p, err := parseProvider(rawEntry, publicURL)
		if err != nil {
			label := fmt.Sprintf("entry %d", i+1)
			if p.ID != "" {
				label += fmt.Sprintf(" (%q)", p.ID)
			}
			r.fail(name, "%s: %s", label, oneLine(err))
			return nil
		}
		if slices.ContainsFunc(out, func(q Provider) bool { return q.ID == p.ID }) {
			r.fail(name, "entry %d (%q): the id is used by an earlier entry", i+1, p.ID)
			return nil
		}
		out = append(out, p)
	}
	return out
}

// parseProvider validates one entry and applies its type's preset. The
// returned Provider carries the entry's id even on error, for the message.
func parseProvider(raw json.RawMessage, publicURL string) (Provider, error) {
	var e providerEntry
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		// The id, when readable, still names the entry.
		var idOnly struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(raw, &idOnly)
		return Provider{ID: idOnly.ID}, fmt.Errorf("not a provider object: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Provider{ID: e.ID}, errors.New("not a single JSON object")
	}
	p := Provider{
		ID: e.ID, Type: e.Type, Issuer: strings.TrimRight(e.Issuer, "/"), ClientID: e.ClientID, ClientSecret: e.ClientSecret,
		Scopes: e.Scopes, ClientIDs: e.ClientIDs, AuthURL: e.AuthURL, TokenURL: e.TokenURL, APIURL: strings.TrimRight(e.APIURL, "/"),
	}
	if !providerID.MatchString(p.ID) {
		return p, errors.New(`"id" must be 1 to 32 of a-z, 0-9, '_' and '-', starting with a letter or digit`)
	}
	if p.ClientID == "" {
		return p, errors.New(`"client_id" is required`)
	}
	for _, id := range p.ClientIDs {
		if strings.TrimSpace(id) == "" {
			return p, errors.New(`"client_ids" holds an empty client id`)
		}
	}
	switch p.Type {
	case ProviderOIDC:
		if p.Issuer == "" {
			return p, errors.New(`"issuer" is required for type oidc`)
		}
	case ProviderGoogle:
		p.Issuer = cmp.Or(p.Issuer, "https://accounts.google.com")
	case ProviderMicrosoft:
		// The multi-tenant issuers (common, organizations) do not match the
		// tokens' tenant-specific "iss": a tenant must be named.
		if p.Issuer == "" {
			return p, errors.New(`"issuer" is required for type microsoft: https://login.microsoftonline.com/<tenant id>/v2.0 (the multi-tenant "common" issuer is not supported)`)
		}
	case ProviderApple:
		p.Issuer = cmp.Or(p.Issuer, "https://appleid.apple.com")
	case ProviderGitHub:
		if p.Issuer != "" {
			return p, errors.New(`"issuer" does not apply to type github (OAuth 2 and its user API, not OpenID); set auth_url, token_url, api_url for GitHub Enterprise`)
		}
		if p.ClientSecret == "" {
			return p, errors.New(`"client_secret" is required for type github`)
		}
		if len(p.ClientIDs) > 0 {
			return p, errors.New(`"client_ids" does not apply to type github: it has no ID tokens`)
		}
		p.AuthURL = cmp.Or(p.AuthURL, "https://github.com/login/oauth/authorize")
		p.TokenURL = cmp.Or(p.TokenURL, "https://github.com/login/oauth/access_token")
		p.APIURL = cmp.Or(p.APIURL, "https://api.github.com")
	case "":
		return p, errors.New(`"type" is required: oidc, google, github, microsoft or apple`)
	default:
		return p, fmt.Errorf(`"type" %q is not one of oidc, google, github, microsoft, apple`, p.Type)
	}
	if p.Type != ProviderGitHub && (p.AuthURL != "" || p.TokenURL != "" || p.APIURL != "") {
		return p, errors.New(`"auth_url", "token_url" and "api_url" apply to type github only (OpenID providers are found by discovery)`)
	}
	for field, v := range map[string]string{"issuer": p.Issuer, "auth_url": p.AuthURL, "token_url": p.TokenURL, "api_url": p.APIURL} {
		if v != "" && !secureURL(v) {
			return p, fmt.Errorf("%q: %q is not an https URL (plain http only for localhost)", field, v)
		}
	}
	if p.Scopes == nil {
		switch p.Type {
		case ProviderGitHub:
			p.Scopes = []string{"read:user", "user:email"}
		case ProviderApple:
			p.Scopes = []string{"openid", "email"}
		default:
			p.Scopes = []string{"openid", "email", "profile"}
		}
	}
	if p.OpenID() && !slices.Contains(p.Scopes, "openid") {
		return p, errors.New(`"scopes" must include "openid"`)
	}
	p.CallbackURL = publicURL + "/auth/" + p.ID + "/callback"
	return p, nil
}

// secureURL reports whether raw is an absolute https URL, or an http one
// on a loopback host (development, tests).
func secureURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return false
	}
	switch u.Scheme {
	case "https":
		return true
	case "http":
		return isLoopback(u.Hostname())
	}
	return false
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// oneLine keeps an error message on one line.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
