package config_test

import (
	"testing"

	"authgate/internal/config"
)

// An app URL that no browser would accept as a passkey origin leaves
// passkeys off instead of stopping the server (the defaults are derived from
// AUTHGATE_APP_URL only when nobody set AUTHGATE_WEBAUTHN_*).
func TestPasskeyDefaultsComeFromTheAppURLOnlyWhereBrowsersAcceptThem(t *testing.T) {
	t.Parallel()
	for appURL, wantRPID := range map[string]string{
		"https://app.example.com/auth": "app.example.com",
		"http://localhost:3000/":       "localhost",
		"http://app.internal:3000/":    "",
		"http://127.0.0.1:3000/":       "",
		"https://10.0.0.5/":            "",
	} {
		c, err := config.Load(corsEnv(map[string]string{"AUTHGATE_APP_URL": appURL}))
		if err != nil {
			t.Errorf("AUTHGATE_APP_URL=%s: %v", appURL, err)
			continue
		}
		if c.MFA.RPID != wantRPID {
			t.Errorf("AUTHGATE_APP_URL=%s: RP ID %q, want %q", appURL, c.MFA.RPID, wantRPID)
		}
		if (len(c.MFA.Origins) > 0) != (wantRPID != "") {
			t.Errorf("AUTHGATE_APP_URL=%s: origins %v", appURL, c.MFA.Origins)
		}
	}
}
