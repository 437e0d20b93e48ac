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
	// Current reports whether the view holds every revocation that can
	// matter; when it does not (its feed is down), tokens are checked
	// against the database.
	Current() bool
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

func (noRevocations) Current() bool                                  { return true }
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
	clearAccessToken(ctx)
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

// BanUser keeps the user who names (its id or email) from signing in or
// refreshing until until, and kills every token issued before now. After until, a fresh
// sign-in works; old tokens stay dead. Errors: BAD_USER_INPUT (until not
// in the future), NOT_FOUND, UNAVAILABLE.
func (s *Service) BanUser(ctx context.Context, who string, until time.Time, reason string) (int, error) {
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
	return s.cutOffUser(ctx, who, CutOff{Now: now, Reason: "banned", BannedUntil: until.UTC(), BanReason: r})
}

// UnbanUser lifts a ban. Tokens issued before the ban stay dead.
// Errors: BAD_USER_INPUT, NOT_FOUND, UNAVAILABLE.
func (s *Service) UnbanUser(ctx context.Context, who string) error {
	u, err := s.findUser(ctx, who)
	if err != nil {
		return err
	}
	return noUserWith(who, s.store.Unban(ctx, u.ID, s.clock.Now()))
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

// cutOffUser is cutOff of the user who names (its id or email).
func (s *Service) cutOffUser(ctx context.Context, who string, c CutOff) (int, error) {
	u, err := s.findUser(ctx, who)
	if err != nil {
		return 0, err
	}
	n, err := s.cutOff(ctx, u.ID, c)
	return n, noUserWith(who, err)
}

func (s *Service) userByEmail(ctx context.Context, email string) (UserRecord, error) {
	email, err := NormalizeEmail(email)
	if err != nil {
		return UserRecord{}, err
	}
	u, err := s.store.UserByEmail(ctx, email)
	return u, noUserWith(email, err)
}

// Purge deletes expired and revoked sessions, retired format-1 refresh
// tokens whose session can no longer be refreshed, denylist rows of expired
// tokens, audit events past their retention, spent login throttle rows and
// expired one-time tokens,
// in bounded batches; only one instance purges at a time. Sessions that
// expired from inactivity are found by a sweep of IdleScanRows sessions per
// purge. Errors: UNAVAILABLE.
func (s *Service) Purge(ctx context.Context) (PurgeResult, error) {
	now := s.clock.Now()
	// Revoked sessions are kept as long as any instance's tokens can live,
	// not just this one's: another instance reloading them must still see
	// the revocation of its longer-lived tokens.
	longest, err := s.store.LongestAccessTokenLifetime(ctx, now.Add(-s.tokenLeeway()))
	if err != nil {
		return PurgeResult{}, err
	}
	return s.store.Purge(ctx, PurgePolicy{
		Now:            now,
		KeepRevokedFor: max(s.cfg.AccessTokenTTL, longest) + s.tokenLeeway(),
		BatchSize:      1000,
		IdleScanRows:   IdleScanRows,
		// Audit events older than the retention; throttle rows whose window
		// and back-off have both passed, sign-up counts past their hour, and mail
		// counts past their day.
		AuditRetention:        s.cfg.AuditRetention,
		ThrottleRetention:     max(s.cfg.Throttle.Window+s.cfg.Throttle.BackoffMax, SignupWindow),
		MailThrottleRetention: DefaultMailThrottle.Window,
		MailOutboxRetention:   MailOutboxRetention,
	})
}

// IdleScanRows is how many sessions one purge examines for idle expiry: at
// 1,000,000 sessions and the default purge interval (10 minutes), each is
// looked at every 50 minutes, and a purge spends about 1 s of PostgreSQL
// time on it (measured: 1.0–1.2 s per 200,000 sessions on 2 cores).
const IdleScanRows = 200_000

func (s *Service) tokenLeeway() time.Duration { return s.cfg.AccessTokenLeeway }

// lifetimeRecordAhead is how far ahead RecordAccessTokenLifetime covers
// the tokens an instance issues. serve records at start and every minute;
// should that lapse, issuing a token records again first when less than
// half of it remains.
const lifetimeRecordAhead = 10 * time.Minute

// RecordAccessTokenLifetime records in the database that this instance may
// issue access tokens of its lifetime for lifetimeRecordAhead, so that every
// instance remembers revocations, and the purge keeps them, as long as such
// a token can live. Errors: UNAVAILABLE.
func (s *Service) RecordAccessTokenLifetime(ctx context.Context) error {
	s.lifetimeMu.Lock()
	defer s.lifetimeMu.Unlock()
	return s.recordTokenLifetimeLocked(ctx, s.clock.Now())
}

// coverTokenLifetime makes sure, before a token is issued at now, that the
// database's record of this instance's lifetime covers it. Errors: UNAVAILABLE.
func (s *Service) coverTokenLifetime(ctx context.Context, now time.Time) error {
	covered := func() bool {
		return now.UnixMicro() < s.lifetimeRecordedUntil.Load()-(lifetimeRecordAhead/2).Microseconds()
	}
	if covered() {
		return nil
	}
	s.lifetimeMu.Lock()
	defer s.lifetimeMu.Unlock()
	if covered() { // a concurrent caller recorded it
		return nil
	}
	return s.recordTokenLifetimeLocked(ctx, now)
}

func (s *Service) recordTokenLifetimeLocked(ctx context.Context, now time.Time) error {
	if s.tokens == nil {
		return nil // an administrative service issues no tokens
	}
	issuedUntil := now.Add(lifetimeRecordAhead)
	ttl := s.tokens.TTL()
	if err := s.store.RecordAccessTokenLifetime(ctx, ttl, issuedUntil.Add(ttl), now.Add(-s.tokenLeeway())); err != nil {
		return err
	}
	s.lifetimeRecordedUntil.Store(max(s.lifetimeRecordedUntil.Load(), issuedUntil.UnixMicro()))
	return nil
}

// banned reports whether u is banned at now.
func banned(u User, now time.Time) bool {
	return u.BannedUntil != nil && u.BannedUntil.After(now)
}

// HasuraCaller is who Hasura says calls an action: the caller's session
// variables, and the access token the client sent along (Hasura forwards
// the client's headers), if it sent one.
type HasuraCaller struct {
	UserID, SessionID string
	AccessToken       string
	// TokenPresented says the client sent a token at all; one that is
	// empty or malformed then refuses the call.
	TokenPresented bool
}

// PrincipalFromHasura returns the caller of an action that acts for its
// caller. Hasura fills an anonymous caller's session variables from the
// client's own headers, so x-hasura-user-id is believed only together with
// x-hasura-session-id naming a live session of that user (one indexed
// query). An access token sent along must be valid, not revoked and the
// same user's (and session's): it identifies the caller's token
// (revokeAccessToken needs its jti) and supplies the session when Hasura
// sent none (a claims_map without x-hasura-session-id).
// Errors: UNAUTHENTICATED, UNAVAILABLE.
func (s *Service) PrincipalFromHasura(ctx context.Context, c HasuraCaller) (Principal, error) {
	if !isUUID(c.UserID) {
		return Principal{}, ErrUnauthenticated
	}
	p := Principal{UserID: c.UserID, SessionID: c.SessionID}
	if c.TokenPresented || c.AccessToken != "" {
		v, err := s.Authenticate(ctx, c.AccessToken)
		if err != nil {
			return Principal{}, err
		}
		if v.UserID != c.UserID || (c.SessionID != "" && v.SessionID != c.SessionID) {
			return Principal{}, ErrUnauthenticated
		}
		p = PrincipalOf(v)
	}
	if !isUUID(p.SessionID) || s.revocations.SessionRevoked(p.SessionID) {
		return Principal{}, ErrUnauthenticated
	}
	live, err := s.store.SessionIsLive(ctx, p.UserID, p.SessionID, s.clock.Now())
	if err != nil {
		return Principal{}, err
	}
	if !live {
		return Principal{}, ErrUnauthenticated
	}
	return p, nil
}

// RevocationCheck names what a revocation check is about; empty fields
// are not checked.
type RevocationCheck struct {
	// UserID and IssuedAt: the token is dead if issued before the user's cut-off.
	UserID   string
	IssuedAt time.Time
	// SessionID: dead if the session has ended.
	SessionID string
	// TokenID: dead if this jti is denylisted.
	TokenID string
}

// revoked checks c against the in-memory view while its feed is current,
// and against the database otherwise: what other instances revoked while
// the feed was down would be missed in memory. Errors: UNAVAILABLE (the
// database is down too: the token is refused, never waved through).
func (s *Service) revoked(ctx context.Context, c RevocationCheck) (bool, error) {
	var inMemory bool
	if c.UserID == "" && c.TokenID == "" {
		inMemory = s.revocations.SessionRevoked(c.SessionID)
	} else {
		inMemory = s.revocations.Revoked(c.UserID, c.SessionID, c.TokenID, c.IssuedAt)
	}
	if inMemory || s.revocations.Current() {
		return inMemory, nil
	}
	s.observer.RevocationCheckedInDatabase()
	// Ids that are not UUIDs name no row (and must not reach a uuid cast).
	if !isUUID(c.UserID) {
		c.UserID = ""
	}
	if !isUUID(c.SessionID) {
		c.SessionID = ""
	}
	revoked, err := s.store.Revoked(ctx, c)
	if err != nil {
		if CodeOf(err) == CodeUnavailable {
			return false, err
		}
		return false, Unavailable(err)
	}
	return revoked, nil
}

// RevocationsCurrent reports whether this instance's in-memory revocation
// view is complete (its feed connected and loaded), which /readyz reports.
// It never fails.
func (s *Service) RevocationsCurrent() bool { return s.revocations.Current() }
