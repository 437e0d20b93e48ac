package auth

import (
	"context"
	"time"
)

// Revocations is the in-memory view of recent revocations that makes
// checking a token free of database round trips. The service consults it on
// every authentication and tells it at once of revocations it makes itself
// (the database announces them to every other instance).
type Revocations interface {
	// Revoked reports whether an access token is dead.
	Revoked(userID, sessionID, jti string, issuedAt time.Time) bool
	// SessionRevoked reports whether a session ended recently.
	SessionRevoked(sessionID string) bool
	CutOff(userID string, at time.Time)
	SessionsEnded(at time.Time, ids ...string)
	TokenDenied(jti string, expiresAt time.Time)
}

// noRevocations is used when the service runs without a revocation state
// (administrative commands, which authenticate nobody).
type noRevocations struct{}

func (noRevocations) Revoked(string, string, string, time.Time) bool { return false }
func (noRevocations) SessionRevoked(string) bool                     { return false }
func (noRevocations) CutOff(string, time.Time)                       {}
func (noRevocations) SessionsEnded(time.Time, ...string)             {}
func (noRevocations) TokenDenied(string, time.Time)                  {}

// RevokeAccessToken puts the caller's own access token on the denylist (a
// token that leaked from one device); the session and its other tokens
// live on. Errors: UNAUTHENTICATED (no bearer token), UNAVAILABLE.
func (s *Service) RevokeAccessToken(ctx context.Context) (bool, error) {
	p, err := PrincipalFrom(ctx)
	if err != nil {
		return false, err
	}
	if p.TokenID == "" {
		return false, &Error{Code: CodeUnauthenticated, Message: "revokeAccessToken needs the access token itself as the bearer token"}
	}
	if err := s.denyAccessToken(ctx, p.TokenID, p.UserID, p.TokenExpiresAt); err != nil {
		return false, err
	}
	return true, nil
}

// DenyAccessToken is the administrative form of RevokeAccessToken, by jti.
// A token that has already expired needs no entry: nothing is written.
// Errors: BAD_USER_INPUT (empty or oversized jti), UNAVAILABLE.
func (s *Service) DenyAccessToken(ctx context.Context, jti string, expiresAt time.Time) error {
	if jti == "" || len(jti) > 200 {
		return badInput("the jti must be 1 to 200 characters")
	}
	return s.denyAccessToken(ctx, jti, "", expiresAt)
}

func (s *Service) denyAccessToken(ctx context.Context, jti, userID string, expiresAt time.Time) error {
	now := s.clock.Now()
	// The denylist only holds tokens that would otherwise still be valid.
	if !expiresAt.Add(s.tokenLeeway()).After(now) {
		return nil
	}
	if err := s.store.DenyAccessToken(ctx, jti, userID, expiresAt, now); err != nil {
		return err
	}
	s.revocations.TokenDenied(jti, expiresAt)
	return nil
}

// BanUser keeps the user with this email from signing in or refreshing until
// until, and kills every token issued before now. After until, a fresh
// sign-in works; old tokens stay dead. Errors: BAD_USER_INPUT (until not
// in the future), NOT_FOUND, UNAVAILABLE.
func (s *Service) BanUser(ctx context.Context, email string, until time.Time, reason string) (int, error) {
	now := s.clock.Now()
	if !until.After(now) {
		return 0, badInput("the ban must end in the future")
	}
	if len(reason) > 500 {
		return 0, badInput("the reason must be at most 500 bytes")
	}
	var r *string
	if reason != "" {
		r = &reason
	}
	return s.cutOffByEmail(ctx, email, CutOff{Now: now, Reason: "banned", BannedUntil: until.UTC(), BanReason: r})
}

// UnbanUser lifts a ban. Tokens issued before the ban stay dead.
// Errors: BAD_USER_INPUT, NOT_FOUND, UNAVAILABLE.
func (s *Service) UnbanUser(ctx context.Context, email string) error {
	u, err := s.userByEmail(ctx, email)
	if err != nil {
		return err
	}
	return s.store.Unban(ctx, u.ID, s.clock.Now())
}

// cutOff applies a cut-off to a user and records it locally at once.
func (s *Service) cutOff(ctx context.Context, userID string, c CutOff) (int, error) {
	ended, err := s.store.CutOffUser(ctx, userID, c)
	if err != nil {
		return 0, err
	}
	s.revocations.CutOff(userID, c.Now)
	s.revocations.SessionsEnded(c.Now, ended...)
	return len(ended), nil
}

func (s *Service) cutOffByEmail(ctx context.Context, email string, c CutOff) (int, error) {
	u, err := s.userByEmail(ctx, email)
	if err != nil {
		return 0, err
	}
	return s.cutOff(ctx, u.ID, c)
}

func (s *Service) userByEmail(ctx context.Context, email string) (UserRecord, error) {
	email, err := normalizeEmail(email)
	if err != nil {
		return UserRecord{}, err
	}
	return s.store.UserByEmail(ctx, email)
}

// Purge deletes expired and revoked sessions, retired refresh tokens that can
// no longer matter, denylist rows of expired tokens, audit events past their
// retention and spent login throttle rows, in bounded batches;
// only one instance purges at a time. Errors: UNAVAILABLE.
func (s *Service) Purge(ctx context.Context) (PurgeResult, error) {
	return s.store.Purge(ctx, PurgePolicy{
		Now:            s.clock.Now(),
		KeepRevokedFor: s.cfg.AccessTokenTTL + s.tokenLeeway(),
		SessionMaxAge:  s.cfg.SessionMaxAge,
		BatchSize:      1000,
		// Audit events older than the retention; throttle rows whose window
		// and back-off have both passed.
		AuditRetention:      s.cfg.AuditRetention,
		ThrottleRetention:   s.cfg.Throttle.Window + s.cfg.Throttle.BackoffMax,
		MailOutboxRetention: MailOutboxRetention,
	})
}

func (s *Service) tokenLeeway() time.Duration { return s.cfg.AccessTokenLeeway }

// banned reports whether u is banned at now.
func banned(u User, now time.Time) bool {
	return u.BannedUntil != nil && u.BannedUntil.After(now)
}

// PrincipalFromHasura returns the caller Hasura vouches for in an action's
// session variables, refusing a session that has been revoked.
// Errors: UNAUTHENTICATED.
func (s *Service) PrincipalFromHasura(userID, sessionID string) (Principal, error) {
	if !isUUID(userID) || (sessionID != "" && s.revocations.SessionRevoked(sessionID)) {
		return Principal{}, ErrUnauthenticated
	}
	return Principal{UserID: userID, SessionID: sessionID}, nil
}
