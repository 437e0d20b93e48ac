package config

import (
	"net"
	"net/url"
	"strings"

	"authgate/internal/mfa"
)

// MFASettings say how second factors and passkeys work.
type MFASettings struct {
	// EncryptionKey seals TOTP secrets and keys the recovery codes' hashes
	// (AUTHGATE_MFA_ENCRYPTION_KEY); "": TOTP is off. PreviousKeys still
	// open and match what older keys made (AUTHGATE_MFA_PREVIOUS_ENCRYPTION_KEYS).
	EncryptionKey string
	PreviousKeys  []string
	// RequiredRoles may appear only in tokens of level 2
	// (AUTHGATE_MFA_REQUIRED_ROLES).
	RequiredRoles []string
	// RPID is the WebAuthn relying party id (AUTHGATE_WEBAUTHN_RP_ID; by
	// default the host of AUTHGATE_APP_URL); "": passkeys are off.
	RPID string
	// Origins are the pages passkey ceremonies may come from
	// (AUTHGATE_WEBAUTHN_ORIGINS; by default the origin of AUTHGATE_APP_URL).
	Origins []string
}

// Keys returns the TOTP keys, nil when TOTP is off.
func (m MFASettings) Keys() (*mfa.Keys, error) {
	if m.EncryptionKey == "" {
		return nil, nil
	}
	previous := make([][]byte, len(m.PreviousKeys))
	for i, k := range m.PreviousKeys {
		previous[i] = []byte(k)
	}
	return mfa.NewKeys([]byte(m.EncryptionKey), previous...)
}

// Passkeys returns the WebAuthn relying party named appName, nil when
// passkeys are off.
func (m MFASettings) Passkeys(appName string) (*mfa.Passkeys, error) {
	if m.RPID == "" {
		return nil, nil
	}
	return mfa.NewPasskeys(mfa.PasskeyConfig{RPID: m.RPID, RPName: appName, Origins: m.Origins})
}

// mfaSettings reads the AUTHGATE_MFA_* and AUTHGATE_WEBAUTHN_* settings;
// appURL is AUTHGATE_APP_URL, the passkeys' default page.
func (r *reader) mfaSettings(appURL string) MFASettings {
	m := MFASettings{EncryptionKey: r.getenv("AUTHGATE_MFA_ENCRYPTION_KEY")}
	if m.EncryptionKey != "" && len(m.EncryptionKey) < mfa.MinKeyLength {
		r.fail("AUTHGATE_MFA_ENCRYPTION_KEY", "must be at least %d bytes (e.g. openssl rand -hex 32)", mfa.MinKeyLength)
	}
	for i, k := range strings.Split(r.getenv("AUTHGATE_MFA_PREVIOUS_ENCRYPTION_KEYS"), ",") {
		if k = strings.TrimSpace(k); k == "" {
			continue
		}
		if len(k) < mfa.MinKeyLength {
			r.fail("AUTHGATE_MFA_PREVIOUS_ENCRYPTION_KEYS", "key %d is shorter than %d bytes", i+1, mfa.MinKeyLength)
		}
		m.PreviousKeys = append(m.PreviousKeys, k)
	}
	if len(m.PreviousKeys) > 0 && m.EncryptionKey == "" {
		r.fail("AUTHGATE_MFA_PREVIOUS_ENCRYPTION_KEYS", "needs AUTHGATE_MFA_ENCRYPTION_KEY, the current key")
	}
	for _, role := range strings.Split(r.getenv("AUTHGATE_MFA_REQUIRED_ROLES"), ",") {
		if role = strings.TrimSpace(role); role != "" {
			m.RequiredRoles = append(m.RequiredRoles, role)
		}
	}
	m.Origins = r.origins("AUTHGATE_WEBAUTHN_ORIGINS")
	m.RPID = strings.ToLower(strings.TrimSpace(r.getenv("AUTHGATE_WEBAUTHN_RP_ID")))
	var app *url.URL
	if appURL != "" {
		app, _ = url.Parse(appURL)
	}
	// The defaults come from AUTHGATE_APP_URL only where a browser would
	// accept them (https, or http on localhost; a name, not an address):
	// otherwise passkeys stay off rather than stopping a server that was
	// never asked for them.
	if m.RPID == "" && len(m.Origins) == 0 && passkeyOriginByDefault(app) {
		m.RPID = strings.ToLower(app.Hostname())
		m.Origins = []string{strings.ToLower(app.Scheme + "://" + app.Host)}
	}
	if m.RPID == "" {
		if len(m.Origins) > 0 {
			r.fail("AUTHGATE_WEBAUTHN_RP_ID", "must be set with AUTHGATE_WEBAUTHN_ORIGINS: the domain passkeys belong to, e.g. example.com")
		}
		return m
	}
	if len(m.Origins) == 0 {
		r.fail("AUTHGATE_WEBAUTHN_ORIGINS", "must be set with AUTHGATE_WEBAUTHN_RP_ID: the origins of the pages that use passkeys, e.g. https://app.example.com")
		return m
	}
	// A browser refuses a ceremony whose page is not the RP ID or below it:
	// say so at start-up, not at every user's first passkey.
	for _, o := range m.Origins {
		u, _ := url.Parse(o)
		host := strings.ToLower(u.Hostname())
		if host != m.RPID && !strings.HasSuffix(host, "."+m.RPID) {
			r.fail("AUTHGATE_WEBAUTHN_ORIGINS", "%s is not %s or a subdomain of it (AUTHGATE_WEBAUTHN_RP_ID): browsers would refuse its passkeys", o, m.RPID)
			return m
		}
		if u.Scheme != "https" && host != "localhost" {
			r.fail("AUTHGATE_WEBAUTHN_ORIGINS", "%s: passkeys need https (only localhost may use http)", o)
			return m
		}
	}
	if _, err := m.Passkeys(DefaultAppName); err != nil {
		r.fail("AUTHGATE_WEBAUTHN_RP_ID", "%v", err)
	}
	return m
}

// passkeyOriginByDefault reports whether the app's URL can serve as the
// passkeys' origin and relying party without being set explicitly.
func passkeyOriginByDefault(app *url.URL) bool {
	if app == nil || app.Hostname() == "" || net.ParseIP(app.Hostname()) != nil {
		return false
	}
	host := strings.ToLower(app.Hostname())
	return app.Scheme == "https" || (app.Scheme == "http" && host == "localhost")
}
