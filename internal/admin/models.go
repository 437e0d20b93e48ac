package admin

import (
	"encoding/json"
	"io"
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
	LastSignInAt *time.Time
}

func newUser(u auth.User, lastSignIn *time.Time, now time.Time) *User {
	claims := JSON{}
	for k, v := range u.Claims {
		claims[k] = v
	}
	roles := u.AllowedRoles
	if roles == nil {
		roles = []string{}
	}
	return &User{
		ID: u.ID, Email: u.Email, DefaultRole: u.DefaultRole, AllowedRoles: roles, Claims: claims,
		Disabled: u.Disabled, BannedUntil: u.BannedUntil, BanReason: u.BanReason,
		Banned:    u.BannedUntil != nil && u.BannedUntil.After(now),
		CreatedAt: u.CreatedAt, LastSignInAt: lastSignIn,
	}
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
