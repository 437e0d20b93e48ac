package config_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"authgate/internal/config"
)

func providerEnv(providers string) func(string) string {
	return corsEnv(map[string]string{
		"AUTHGATE_PUBLIC_URL": "https://auth.example.com/",
		"AUTHGATE_PROVIDERS":  providers,
	})
}

func TestProvidersFillPresetsAndCallbackURLs(t *testing.T) {
	t.Parallel()
	c, err := config.Load(providerEnv(`[
		{"id":"corp","type":"oidc","issuer":"https://id.corp.example/","client_id":"ag","client_secret":"s"},
		{"id":"google","type":"google","client_id":"web","client_secret":"s","client_ids":["android","ios"]},
		{"id":"github","type":"github","client_id":"gh","client_secret":"s"},
		{"id":"ms","type":"microsoft","issuer":"https://login.microsoftonline.com/tid/v2.0","client_id":"m"},
		{"id":"apple","type":"apple","client_id":"com.example.app","scopes":["openid","email","name"]}
	]`))
	if err != nil {
		t.Fatal(err)
	}
	want := []config.Provider{
		{ID: "corp", Type: "oidc", Issuer: "https://id.corp.example", ClientID: "ag", ClientSecret: "s",
			Scopes: []string{"openid", "email", "profile"}, CallbackURL: "https://auth.example.com/auth/corp/callback"},
		{ID: "google", Type: "google", Issuer: "https://accounts.google.com", ClientID: "web", ClientSecret: "s",
			Scopes: []string{"openid", "email", "profile"}, ClientIDs: []string{"android", "ios"}, CallbackURL: "https://auth.example.com/auth/google/callback"},
		{ID: "github", Type: "github", ClientID: "gh", ClientSecret: "s", Scopes: []string{"read:user", "user:email"},
			AuthURL: "https://github.com/login/oauth/authorize", TokenURL: "https://github.com/login/oauth/access_token", APIURL: "https://api.github.com",
			CallbackURL: "https://auth.example.com/auth/github/callback"},
		{ID: "ms", Type: "microsoft", Issuer: "https://login.microsoftonline.com/tid/v2.0", ClientID: "m",
			Scopes: []string{"openid", "email", "profile"}, CallbackURL: "https://auth.example.com/auth/ms/callback"},
		{ID: "apple", Type: "apple", Issuer: "https://appleid.apple.com", ClientID: "com.example.app",
			Scopes: []string{"openid", "email", "name"}, CallbackURL: "https://auth.example.com/auth/apple/callback"},
	}
	if !reflect.DeepEqual(c.Providers, want) {
		t.Errorf("providers:\n got %+v\nwant %+v", c.Providers, want)
	}
	if !c.Providers[0].OpenID() || c.Providers[2].OpenID() {
		t.Error("OpenID(): oidc is, github is not")
	}

	none, err := config.Load(corsEnv(nil))
	if err != nil || none.Providers != nil {
		t.Errorf("unset: %v %v, want no providers", none.Providers, err)
	}
}

func TestProvidersReadFromAFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "providers.json")
	if err := os.WriteFile(path, []byte(`[{"id":"corp","type":"oidc","issuer":"http://127.0.0.1:9998","client_id":"ag"}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(providerEnv(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Providers) != 1 || c.Providers[0].Issuer != "http://127.0.0.1:9998" {
		t.Errorf("providers = %+v", c.Providers)
	}
}

// TestBadProviderEntriesStopStartUpWithOneLine: each bad entry is one line
// that names AUTHGATE_PROVIDERS, the entry, and what is wrong with it.
func TestBadProviderEntriesStopStartUpWithOneLine(t *testing.T) {
	t.Parallel()
	corp := `{"id":"corp","type":"oidc","issuer":"https://id.example","client_id":"ag"}`
	for _, tc := range []struct{ name, value, want string }{
		{"not JSON", `[{"id":`, "not a JSON array"},
		{"missing file", "/nonexistent/providers.json", "neither a JSON array nor a readable file"},
		{"not an object", `["corp"]`, "entry 1: not a provider object"},
		{"unknown field", `[{"id":"corp","type":"oidc","issuer":"https://id.example","client_id":"ag","clientid":"x"}]`, `entry 1 ("corp"): not a provider object: json: unknown field "clientid"`},
		{"bad id", `[{"id":"Corp/1","type":"oidc","issuer":"https://id.example","client_id":"ag"}]`, `entry 1 ("Corp/1"): "id" must be`},
		{"no id", `[{"type":"oidc","issuer":"https://id.example","client_id":"ag"}]`, `entry 1: "id" must be`},
		{"duplicate id", `[` + corp + `,` + corp + `]`, `entry 2 ("corp"): the id is used by an earlier entry`},
		{"no type", `[{"id":"x","client_id":"ag"}]`, `entry 1 ("x"): "type" is required`},
		{"unknown type", `[{"id":"x","type":"saml","client_id":"ag"}]`, `entry 1 ("x"): "type" "saml" is not one of`},
		{"no client id", `[{"id":"x","type":"google"}]`, `entry 1 ("x"): "client_id" is required`},
		{"oidc without issuer", `[{"id":"x","type":"oidc","client_id":"ag"}]`, `"issuer" is required for type oidc`},
		{"http issuer", `[{"id":"x","type":"oidc","issuer":"http://id.example","client_id":"ag"}]`, `"issuer": "http://id.example" is not an https URL`},
		{"microsoft without tenant", `[{"id":"ms","type":"microsoft","client_id":"ag"}]`, `"issuer" is required for type microsoft`},
		{"github without secret", `[{"id":"gh","type":"github","client_id":"ag"}]`, `"client_secret" is required for type github`},
		{"github with issuer", `[{"id":"gh","type":"github","issuer":"https://github.com","client_id":"ag","client_secret":"s"}]`, `"issuer" does not apply to type github`},
		{"endpoints on oidc", `[{"id":"x","type":"oidc","issuer":"https://id.example","client_id":"ag","token_url":"https://t"}]`, `apply to type github only`},
		{"scopes without openid", `[{"id":"x","type":"oidc","issuer":"https://id.example","client_id":"ag","scopes":["email"]}]`, `"scopes" must include "openid"`},
		{"empty client id in list", `[{"id":"x","type":"google","client_id":"ag","client_ids":[""]}]`, `"client_ids" holds an empty client id`},
		{"two objects", `[{"id":"x","type":"google","client_id":"ag"} {"id":"y"}]`, "not a JSON array"},
	} {
		_, err := config.Load(providerEnv(tc.value))
		if err == nil || !strings.HasPrefix(err.Error(), "AUTHGATE_PROVIDERS: ") || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: err %v, want one line containing %q", tc.name, err, tc.want)
		}
	}

	_, err := config.Load(corsEnv(map[string]string{"AUTHGATE_PROVIDERS": "[" + corp + "]"}))
	if err == nil || !strings.Contains(err.Error(), "needs AUTHGATE_PUBLIC_URL") {
		t.Errorf("without a public URL: %v", err)
	}
	_, err = config.Load(corsEnv(map[string]string{"AUTHGATE_PROVIDERS": "[" + corp + "]", "AUTHGATE_PUBLIC_URL": "http://auth.example.com"}))
	if err == nil || !strings.HasPrefix(err.Error(), "AUTHGATE_PUBLIC_URL: ") {
		t.Errorf("with a plain-http public URL: %v", err)
	}
	if _, err = config.Load(corsEnv(map[string]string{"AUTHGATE_PROVIDERS": "[" + corp + "]", "AUTHGATE_PUBLIC_URL": "http://localhost:8080"})); err != nil {
		t.Errorf("a localhost public URL is fine for development: %v", err)
	}
}
