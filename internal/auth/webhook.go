package auth

import (
	"context"
	"slices"
	"strconv"
	"time"
)

// HasuraSession is what Hasura's authentication webhook answers: the session
// variables of the request, and how long Hasura may cache them.
type HasuraSession struct {
	Variables map[string]string
	// CacheFor is how long Hasura may keep the answer; it never passes the
	// token's expiry. Zero, with Anonymous, means the answer does not
	// expire: there is no token to outlive.
	CacheFor time.Duration
	// Anonymous is set when the request carried no token and got the
	// anonymous role.
	Anonymous bool
}

// WebhookRequest is what Hasura asks its authentication webhook about.
type WebhookRequest struct {
	// AccessToken is the token the client presented.
	AccessToken string
	// TokenPresented says the client presented a token at all (where the
	// JWT config's header says); a presented but empty or malformed one is
	// refused, a missing one gets the anonymous role.
	TokenPresented bool
	// RequestedRole is the client's X-Hasura-Role, if any.
	RequestedRole string
}

// WebhookPolicy is how the webhook answers.
type WebhookPolicy struct {
	// MaxCache bounds how long Hasura may cache an answer.
	MaxCache time.Duration
	// AnonymousRole is granted to a request without a token; empty refuses
	// it (UNAUTHENTICATED).
	AnonymousRole string
}

// HasuraWebhookSession checks a bearer access token exactly as Authenticate
// does (no database round trip while the revocation feed is current) and picks the request's role: requestedRole
// when it is among the token's allowed roles, the default role when none is
// requested. Hasura may cache the answer for p.MaxCache, but never past the
// token's expiry. A request with no token at all gets p.AnonymousRole and no
// other session variable: in webhook mode Hasura has no unauthorized-role
// fallback of its own. Errors: UNAUTHENTICATED (missing with no anonymous
// role, invalid or revoked token), FORBIDDEN (a requested role the token
// does not allow), UNAVAILABLE (the revocation feed and the database are
// both down).
func (s *Service) HasuraWebhookSession(ctx context.Context, req WebhookRequest, p WebhookPolicy) (HasuraSession, error) {
	if !req.TokenPresented && p.AnonymousRole != "" {
		return HasuraSession{Variables: map[string]string{"X-Hasura-Role": p.AnonymousRole}, Anonymous: true}, nil
	}
	if req.AccessToken == "" {
		return HasuraSession{}, ErrUnauthenticated
	}
	v, err := s.Authenticate(ctx, req.AccessToken)
	if err != nil {
		return HasuraSession{}, err
	}
	role := v.DefaultRole
	if req.RequestedRole != "" {
		// Verify guarantees the default role is among the allowed ones.
		if !slices.Contains(v.AllowedRoles, req.RequestedRole) {
			return HasuraSession{}, &Error{Code: CodeForbidden, Message: "the requested role is not allowed for this user"}
		}
		role = req.RequestedRole
	}
	vars := make(map[string]string, 3+len(v.Custom))
	for k, val := range v.Custom {
		vars[k] = val
	}
	vars["X-Hasura-User-Id"] = v.UserID
	vars["X-Hasura-Role"] = role
	vars["X-Hasura-Session-Id"] = v.SessionID
	// The sign-in's assurance, as in a token: a token from before levels
	// is one factor.
	vars["X-Hasura-Auth-Level"] = strconv.Itoa(max(v.AuthLevel, 1))
	cacheFor := min(p.MaxCache, v.ExpiresAt.Sub(s.clock.Now()))
	return HasuraSession{Variables: vars, CacheFor: max(cacheFor, 0)}, nil
}
