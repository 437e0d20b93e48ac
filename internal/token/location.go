package token

import (
	"encoding/json"
	"fmt"
	"strings"
)

// The places a client can carry its access token, as the JWT config's
// "header" names them (Server/Auth/JWT.hs, JWTHeader's FromJSON).
const (
	// LocationAuthorization is "Authorization: Bearer <token>", the default.
	LocationAuthorization = "Authorization"
	// LocationCookie is the cookie TokenLocation.Name holds the token in.
	LocationCookie = "Cookie"
	// LocationCustomHeader is the header TokenLocation.Name, holding the
	// token itself (no "Bearer ").
	LocationCustomHeader = "CustomHeader"
)

// TokenLocation is where clients carry the access token, and so where Hasura
// and authgate look for it.
type TokenLocation struct {
	// Kind is LocationAuthorization, LocationCookie or LocationCustomHeader.
	Kind string
	// Name is the cookie's or the header's name.
	Name string
}

// TokenLocation returns where the JWT config's "header" says access tokens
// travel: the Authorization header unless it names a cookie or a header. It
// never fails.
func (c *Config) TokenLocation() TokenLocation {
	if c.location.Kind == "" {
		return TokenLocation{Kind: LocationAuthorization}
	}
	return c.location
}

// parseTokenLocation reads "header" as Hasura does: {"type":"Authorization"},
// {"type":"Cookie","name":…} or {"type":"CustomHeader","name":…}, the type
// matched without regard to case, other fields ignored. authgate also
// refuses a name that no cookie or header can have.
func parseTokenLocation(raw json.RawMessage) (TokenLocation, error) {
	var h struct {
		Type *string `json:"type"`
		Name *string `json:"name"`
	}
	if err := json.Unmarshal(raw, &h); err != nil || h.Type == nil {
		return TokenLocation{}, secretError(`header must be {"type":"Authorization"}, {"type":"Cookie","name":…} or {"type":"CustomHeader","name":…}`)
	}
	var loc TokenLocation
	for _, kind := range []string{LocationAuthorization, LocationCookie, LocationCustomHeader} {
		if strings.EqualFold(*h.Type, kind) {
			loc.Kind = kind
		}
	}
	switch loc.Kind {
	case "":
		return TokenLocation{}, secretError(fmt.Sprintf("header type %q is not Authorization, Cookie or CustomHeader", *h.Type))
	case LocationAuthorization:
		return loc, nil
	}
	if h.Name == nil || !isHTTPToken(*h.Name) {
		return TokenLocation{}, secretError(fmt.Sprintf("header type %s needs a name: a cookie or header name (letters, digits and !#$%%&'*+-.^_`|~)", loc.Kind))
	}
	loc.Name = *h.Name
	return loc, nil
}

// isHTTPToken reports whether s is an RFC 9110 token, what cookie and header
// names are made of.
func isHTTPToken(s string) bool {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", c)) {
			return false
		}
	}
	return s != ""
}
