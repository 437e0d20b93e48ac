// Package redirect decides where authgate may send a browser: the page an
// emailed link opens, the page a provider sign-in returns to. Only URLs
// under one of the operator's allowed prefixes (AUTHGATE_REDIRECT_URLS, plus
// AUTHGATE_APP_URL) pass, compared as parsed URLs — scheme, host, port and
// path prefix — never as strings: "https://app.example.com.evil.net" and
// "https://app.example.com@evil.net" share a string prefix with
// "https://app.example.com" and are refused.
//
// What a browser would read differently from Go's parser is refused rather
// than interpreted: user information, backslashes, control characters and
// spaces, and dot segments in the path (a browser resolves "/app/../admin"
// to "/admin", outside the "/app/" prefix the raw string seems to be in).
package redirect

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"golang.org/x/net/idna"
)

// ErrNotAllowed is returned for a URL outside every allowed prefix, or one
// that cannot be compared safely.
var ErrNotAllowed = errors.New("the redirect URL is not allowed (AUTHGATE_REDIRECT_URLS)")

// ErrNoDefault is returned by Resolve for an empty redirect URL when no
// AUTHGATE_APP_URL is set.
var ErrNoDefault = errors.New("no redirect URL given and AUTHGATE_APP_URL is not set")

// AllowList is the set of allowed redirect prefixes and the default target.
// The zero value allows nothing. It is immutable and safe for concurrent use.
type AllowList struct {
	prefixes []prefix
	appURL   *url.URL
}

// prefix is one allowed entry, normalised: lower-case scheme and ASCII host,
// an explicit port, and an escaped path.
type prefix struct {
	scheme, host, port, path string
}

// New builds the allow-list from the allowed entries (origins such as
// "https://app.example.com" or URL prefixes such as
// "https://example.com/app/") and the default target appURL ("" for none),
// which is allowed too. Errors name the offending entry.
func New(allowed []string, appURL string) (*AllowList, error) {
	a := &AllowList{}
	for _, entry := range allowed {
		p, err := parsePrefix(entry)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", entry, err)
		}
		a.prefixes = append(a.prefixes, p)
	}
	if appURL != "" {
		u, err := parseCandidate(appURL)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", appURL, err)
		}
		// The app URL may carry a query of its own; what is allowed is its
		// scheme, host, port and path.
		p, err := normalise(u)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", appURL, err)
		}
		a.prefixes = append(a.prefixes, p)
		a.appURL = u
	}
	return a, nil
}

// Empty reports whether nothing is allowed (no entry and no app URL).
func (a *AllowList) Empty() bool { return a == nil || len(a.prefixes) == 0 }

// AppURL returns the default target, or "" when none is set.
func (a *AllowList) AppURL() string {
	if a == nil || a.appURL == nil {
		return ""
	}
	return a.appURL.String()
}

// Check returns the parsed URL when raw is under an allowed prefix, else
// ErrNotAllowed.
func (a *AllowList) Check(raw string) (*url.URL, error) {
	if a == nil {
		return nil, ErrNotAllowed
	}
	u, err := parseCandidate(raw)
	if err != nil {
		return nil, ErrNotAllowed
	}
	c, err := normalise(u)
	if err != nil {
		return nil, ErrNotAllowed
	}
	for _, p := range a.prefixes {
		if p.matches(c) {
			return u, nil
		}
	}
	return nil, ErrNotAllowed
}

// Resolve is Check, with "" meaning the app URL (ErrNoDefault when none).
func (a *AllowList) Resolve(raw string) (*url.URL, error) {
	if raw == "" {
		if a == nil || a.appURL == nil {
			return nil, ErrNoDefault
		}
		u := *a.appURL
		return &u, nil
	}
	return a.Check(raw)
}

// WithQuery returns u with the query parameters kv (name, value pairs)
// set, replacing any of the same name already there: a redirect URL that
// arrives carrying its own "token" or "code" cannot smuggle it through.
func WithQuery(u *url.URL, kv ...string) string {
	out := *u
	q := out.Query()
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	out.RawQuery = q.Encode()
	return out.String()
}

func (p prefix) matches(c prefix) bool {
	if c.scheme != p.scheme || c.host != p.host || c.port != p.port {
		return false
	}
	// "/app/" allows what is below it; "/app" allows itself and what is
	// below it, never "/appx".
	if strings.HasSuffix(p.path, "/") {
		return strings.HasPrefix(c.path, p.path)
	}
	return c.path == p.path || strings.HasPrefix(c.path, p.path+"/")
}

// parsePrefix reads an allowed entry: an absolute http(s) URL with no user
// information, query or fragment.
func parsePrefix(entry string) (prefix, error) {
	u, err := parseCandidate(entry)
	if err != nil {
		return prefix{}, err
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return prefix{}, errors.New("an allowed redirect URL has no query or fragment")
	}
	return normalise(u)
}

// parseCandidate parses raw and refuses whatever a browser might read
// differently from Go's parser.
func parseCandidate(raw string) (*url.URL, error) {
	if raw == "" || len(raw) > 2048 {
		return nil, errors.New("empty or longer than 2048 bytes")
	}
	for _, r := range raw {
		if r <= ' ' || r == 0x7f || r == '\\' {
			return nil, errors.New("contains a space, a control character or a backslash")
		}
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("not a URL")
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return nil, errors.New("must be an absolute http or https URL")
	}
	if u.Opaque != "" || u.Host == "" {
		return nil, errors.New("must be an absolute http or https URL with a host")
	}
	if u.User != nil {
		return nil, errors.New("must not contain user information (user@host)")
	}
	return u, nil
}

// normalise turns a parsed URL into the comparable form: lower-case scheme,
// ASCII (IDNA) lower-case host, explicit port, and an escaped path with no
// dot segments ("/" when empty).
func normalise(u *url.URL) (prefix, error) {
	scheme := strings.ToLower(u.Scheme)
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[scheme]
	}
	if ip := net.ParseIP(host); ip == nil {
		ascii, err := idna.Lookup.ToASCII(host)
		if err != nil || ascii == "" {
			return prefix{}, errors.New("not a valid host name")
		}
		host = ascii
	}
	host = strings.ToLower(host)
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	decoded, err := url.PathUnescape(path)
	if err != nil {
		return prefix{}, errors.New("not a valid path")
	}
	for _, seg := range strings.Split(decoded, "/") {
		if seg == "." || seg == ".." {
			return prefix{}, errors.New("must not contain dot segments (. or ..)")
		}
	}
	if strings.Contains(strings.ToLower(path), "%2f") || strings.Contains(strings.ToLower(path), "%5c") {
		return prefix{}, errors.New("must not contain an encoded slash or backslash")
	}
	return prefix{scheme: scheme, host: host, port: port, path: path}, nil
}
