package admin

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The console's cookies. Path /admin keeps them to the console; SameSite
// Strict keeps every other site's pages from sending them; HttpOnly keeps
// scripts from reading them (the console has none).
const (
	sessionCookie = "authgate_admin"
	signinCookie  = "authgate_admin_signin"
	cookiePath    = "/admin"
)

// consoleSession is what the console's cookie says: the administrator, the
// authgate session its sign-in opened, and when it was last used.
type consoleSession struct {
	UserID, SessionID string
	LastSeen          time.Time
}

// seal writes s as the cookie's value: its fields and an HMAC-SHA-256 of
// them under key. Nothing in it is secret; the MAC makes it unforgeable.
func (s consoleSession) seal(key []byte) string {
	payload := "1|" + s.UserID + "|" + s.SessionID + "|" + strconv.FormatInt(s.LastSeen.Unix(), 10)
	return base64.RawURLEncoding.EncodeToString([]byte(payload)) + "." + base64.RawURLEncoding.EncodeToString(mac(key, "session", payload))
}

// openSession reads a cookie value sealed by seal; false when it is not one.
func openSession(key []byte, value string) (consoleSession, bool) {
	encoded, sum, ok := strings.Cut(value, ".")
	if !ok {
		return consoleSession{}, false
	}
	payload, err1 := base64.RawURLEncoding.DecodeString(encoded)
	given, err2 := base64.RawURLEncoding.DecodeString(sum)
	if err1 != nil || err2 != nil || !hmac.Equal(given, mac(key, "session", string(payload))) {
		return consoleSession{}, false
	}
	parts := strings.Split(string(payload), "|")
	if len(parts) != 4 || parts[0] != "1" {
		return consoleSession{}, false
	}
	unix, err := strconv.ParseInt(parts[3], 10, 64)
	if err != nil {
		return consoleSession{}, false
	}
	return consoleSession{UserID: parts[1], SessionID: parts[2], LastSeen: time.Unix(unix, 0)}, true
}

// csrfToken is the token every form of the console session carries: bound
// to the session, so that it cannot be taken from another.
func csrfToken(key []byte, purpose, bound string) string {
	return base64.RawURLEncoding.EncodeToString(mac(key, "csrf|"+purpose, bound))
}

func csrfValid(key []byte, purpose, bound, given string) bool {
	want := csrfToken(key, purpose, bound)
	return bound != "" && hmac.Equal([]byte(given), []byte(want))
}

func mac(key []byte, purpose, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write([]byte(data))
	return m.Sum(nil)
}

func setCookie(w http.ResponseWriter, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: cookiePath, MaxAge: maxAge,
		HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode,
	})
}

func clearCookie(w http.ResponseWriter, name string) { setCookie(w, name, "", -1) }
