package admin

import (
	"encoding/json"
	"io"
	"sync"
	"time"

	"authgate/internal/auth"
)

// JSON is the admin schema's JSON scalar: an object (claims, an audit
// event's detail).
type JSON map[string]any

// MarshalGQL writes the object (never null).
func (j JSON) MarshalGQL(w io.Writer) {
	if j == nil {
		j = JSON{}
	}
	b, err := json.Marshal(map[string]any(j))
	if err != nil {
		b = []byte("{}")
	}
	_, _ = w.Write(b)
}

// UnmarshalGQL reads a JSON object.
func (j *JSON) UnmarshalGQL(v any) error {
	m, ok := v.(map[string]any)
	if !ok {
		return &auth.Error{Code: auth.CodeBadUserInput, Message: "a JSON value here must be an object"}
	}
	*j = m
	return nil
}

// User is the schema's AdminUser.
type User struct {
	ID           string
	Email        string
	DefaultRole  string
	AllowedRoles []string
	Claims       JSON
	Disabled     bool
	BannedUntil  *time.Time
	BanReason    *string
	Banned       bool
	CreatedAt    time.Time

	// facts are read once, when a query first asks for one of them (a list
	// of users reads them only if asked).
	factsOnce sync.Once
	facts     auth.UserFacts
	factsErr  error
}

// Facts returns u's last sign-in and email verification, read through
// load the first time.
func (u *User) Facts(load func() (auth.UserFacts, error)) (auth.UserFacts, error) {
	u.factsOnce.Do(func() { u.facts, u.factsErr = load() })
	return u.facts, u.factsErr
}

// newUser is u as the API shows it; facts, when known, save reading them.
func newUser(u auth.User, facts *auth.UserFacts, now time.Time) *User {
	claims := JSON{}
	for k, v := range u.Claims {
		claims[k] = v
	}
	roles := u.AllowedRoles
	if roles == nil {
		roles = []string{}
	}
	out := &User{
		ID: u.ID, Email: u.Email, DefaultRole: u.DefaultRole, AllowedRoles: roles, Claims: claims,
		Disabled: u.Disabled, BannedUntil: u.BannedUntil, BanReason: u.BanReason,
		Banned:    u.BannedUntil != nil && u.BannedUntil.After(now),
		CreatedAt: u.CreatedAt,
	}
	if facts != nil {
		out.factsOnce.Do(func() { out.facts = *facts })
	}
	return out
}

// UserConnection is a page of users; TotalCount counts Search's matches.
type UserConnection struct {
	Search   string
	Edges    []*UserEdge
	PageInfo *PageInfo
}

// AuditEventConnection is a page of audit events; TotalCount counts
// Query's matches.
type AuditEventConnection struct {
	Query    auth.AuditQuery
	Edges    []*AuditEventEdge
	PageInfo *PageInfo
}
