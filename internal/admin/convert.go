package admin

import (
	"context"
	"fmt"

	"authgate/internal/auth"
)

// user is the user with this id as the API shows one; NOT_FOUND when none.
func (r *Resolver) user(ctx context.Context, id string) (*User, error) {
	d, err := r.Auth.User(ctx, id, "")
	if err != nil {
		return nil, err
	}
	if d == nil {
		return nil, &auth.Error{Code: auth.CodeNotFound, Message: fmt.Sprintf("no user with the id %q", id)}
	}
	return newUser(d.User, &d.UserFacts, r.Auth.Now()), nil
}

func (r *Resolver) sessions(ctx context.Context, userID string, includeEnded *bool) ([]*auth.AdminSession, error) {
	list, err := r.Auth.UserSessions(ctx, userID, includeEnded != nil && *includeEnded)
	if err != nil {
		return nil, err
	}
	out := make([]*auth.AdminSession, len(list))
	for i := range list {
		out[i] = &list[i]
	}
	return out, nil
}

// userID refuses an id that is an email: the API names users by id (the
// service would take either).
func userID(id string) error {
	for _, c := range id {
		if c == '@' {
			return &auth.Error{Code: auth.CodeNotFound, Message: fmt.Sprintf("no user with the id %q (the API names users by id)", id)}
		}
	}
	return nil
}

func stringClaims(j JSON) (map[string]string, error) {
	out := make(map[string]string, len(j))
	for k, v := range j {
		s, ok := v.(string)
		if !ok {
			return nil, &auth.Error{Code: auth.CodeBadUserInput, Message: fmt.Sprintf("claim %q must be a string", k)}
		}
		out[k] = s
	}
	return out, nil
}

func newAuditEvent(e auth.AuditEvent) *AuditEvent {
	return &AuditEvent{
		At: e.At, Event: string(e.Event), Actor: optional(e.Actor), UserID: optional(e.UserID),
		SessionID: optional(e.SessionID), IP: optional(e.IP), UserAgent: optional(e.UserAgent), Detail: JSON(e.Detail),
	}
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func (r *Resolver) facts(ctx context.Context, u *User) (auth.UserFacts, error) {
	return u.Facts(func() (auth.UserFacts, error) { return r.Auth.UserFacts(ctx, u.ID) })
}
