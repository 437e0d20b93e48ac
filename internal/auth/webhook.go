package auth

import (
	"context"
	"slices"
	"time"
)

// HasuraSession is what Hasura's authentication webhook answers: the session
// variables of the request, and how long Hasura may cache them.
type HasuraSession struct {
	Variables map[string]string
	CacheFor  time.Duration
}

// HasuraWebhookSession checks a bearer access token exactly as Authenticate
// does (no database round trip while the revocation feed is current) and picks the request's role: requestedRole
// when it is among the token's allowed roles, the default role when none is
// requested. Hasura may cache the answer for maxCache, but never past the
// token's expiry. Errors: UNAUTHENTICATED (missing, invalid or revoked
// token), FORBIDDEN (a requested role the token does not allow), UNAVAILABLE
// (the revocation feed and the database are both down).
func (s *Service) HasuraWebhookSession(ctx context.Context, accessToken, requestedRole string, maxCache time.Duration) (HasuraSession, error) {
	if accessToken == "" {
		return HasuraSession{}, ErrUnauthenticated
	}
	v, err := s.Authenticate(ctx, accessToken)
	if err != nil {
		return HasuraSession{}, err
	}
	role := v.DefaultRole
	if requestedRole != "" {
		// Verify guarantees the default role is among the allowed ones.
		if !slices.Contains(v.AllowedRoles, requestedRole) {
			return HasuraSession{}, &Error{Code: CodeForbidden, Message: "the requested role is not allowed for this user"}
		}
		role = requestedRole
	}
	vars := make(map[string]string, 3+len(v.Custom))
	for k, val := range v.Custom {
		vars[k] = val
	}
	vars["X-Hasura-User-Id"] = v.UserID
	vars["X-Hasura-Role"] = role
	vars["X-Hasura-Session-Id"] = v.SessionID
	cacheFor := min(maxCache, v.ExpiresAt.Sub(s.clock.Now()))
	return HasuraSession{Variables: vars, CacheFor: max(cacheFor, 0)}, nil
}
