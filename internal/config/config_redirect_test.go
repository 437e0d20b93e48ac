package config_test

import (
	"strings"
	"testing"

	"authgate/internal/config"
)

func TestRedirectSettingsBuildTheAllowList(t *testing.T) {
	t.Parallel()
	c, err := config.Load(corsEnv(map[string]string{
		"AUTHGATE_REDIRECT_URLS": " https://app.example.com , https://example.org/app/ ",
		"AUTHGATE_APP_URL":       "https://app.example.com/auth",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Redirects.AppURL() != "https://app.example.com/auth" {
		t.Errorf("AppURL = %q", c.Redirects.AppURL())
	}
	for raw, allowed := range map[string]bool{
		"https://example.org/app/reset":     true,
		"https://example.org/admin":         false,
		"https://app.example.com.evil.net/": false,
	} {
		if _, err := c.Redirects.Check(raw); (err == nil) != allowed {
			t.Errorf("Check(%q) = %v, want allowed %v", raw, err, allowed)
		}
	}

	unset, err := config.Load(corsEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	if unset.Redirects == nil || !unset.Redirects.Empty() {
		t.Errorf("with nothing set, the allow-list must exist and be empty")
	}
}

func TestBadRedirectSettingsNameTheSetting(t *testing.T) {
	t.Parallel()
	for name, value := range map[string]string{
		"AUTHGATE_REDIRECT_URLS": "https://app.example.com,app.example.org",
		"AUTHGATE_APP_URL":       "https://ann@app.example.com/",
	} {
		_, err := config.Load(corsEnv(map[string]string{name: value}))
		if err == nil || !strings.HasPrefix(err.Error(), name+": ") || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s=%q: err %v, want one line naming it", name, value, err)
		}
	}
}
