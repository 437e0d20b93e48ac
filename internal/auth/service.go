// Package auth is authgate's domain: sign-up, sign-in, refresh-token
// rotation, sessions and their revocation. It knows nothing of HTTP or SQL:
// the GraphQL resolvers and the Hasura action handler call the same methods,
// and persistence is the Store it is given.
package auth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"authgate/internal/clock"
	"authgate/internal/password"
	"authgate/internal/refreshtoken"
	"authgate/internal/token"
)

// Password length limits, in bytes. The maximum is checked before any
// hashing, so an oversized password costs nothing.
const (
	MinPasswordLength = 8
	MaxPasswordLength = 256
)

const (
	maxEmailLength       = 254
	maxDescriptionLength = 200
	maxUserAgentLength   = 512
	maxRoleLength        = 100
)

// Config holds the rules the service enforces.
type Config struct {
	// RefreshTokenTTL is the sliding inactivity limit of a session.
	RefreshTokenTTL time.Duration
	// SessionMaxAge is the absolute session lifetime; refreshing never extends it.
	SessionMaxAge time.Duration
	// RefreshReuseGrace is how long a just-retired refresh token still yields
	// its (same) successor, for lost responses and racing tabs.
	RefreshReuseGrace time.Duration
	// SignupEnabled allows the signup operation.
	SignupEnabled bool
	// SignupRole is the default and only allowed role of self-registered users.
	SignupRole string
	// AccessTokenTTL is the access-token lifetime; AccessTokenLeeway the
	// clock skew verification allows.
	AccessTokenTTL    time.Duration
	AccessTokenLeeway time.Duration
	// Throttle sets the login throttle; zero means DefaultThrottle().
	Throttle ThrottleConfig
	// AuditRetention is how long audit events are kept; zero means
	// DefaultAuditRetention.
	AuditRetention time.Duration
	// Mail is how the service's mails leave; zero: it sends none.
	Mail MailConfig
}

// Service implements every authgate operation.
type Service struct {
	store       Store
	revocations Revocations
	observer    Observer
	tokens      *token.Issuer
	hasher      *password.Hasher
	keys        refreshtoken.Keys
	clock       clock.Clock
	random      io.Reader
	cfg         Config
}

// New returns a Service. random is crypto/rand.Reader outside tests;
// revocations may be nil where nobody is authenticated (the CLI).
func New(store Store, revocations Revocations, tokens *token.Issuer, hasher *password.Hasher, keys refreshtoken.Keys, clk clock.Clock, random io.Reader, cfg Config) *Service {
	if revocations == nil {
		revocations = noRevocations{}
	}
	if cfg.Throttle == (ThrottleConfig{}) {
		cfg.Throttle = DefaultThrottle()
	}
	if cfg.AuditRetention <= 0 {
		cfg.AuditRetention = DefaultAuditRetention
	}
	return &Service{store: store, revocations: revocations, observer: noObserver{}, tokens: tokens, hasher: hasher, keys: keys, clock: clk, random: random, cfg: cfg}
}

// Signup creates a user with the sign-up role and opens its first session.
// Errors: FORBIDDEN (sign-up off), BAD_USER_INPUT, WEAK_PASSWORD, EMAIL_TAKEN,
// RATE_LIMITED (hashing saturated), UNAVAILABLE.
func (s *Service) Signup(ctx context.Context, email, pw string, description *string) (*AuthPayload, error) {
	if !s.cfg.SignupEnabled {
		return nil, ErrSignupDisabled
	}
	email, err := normalizeEmail(email)
	if err != nil {
		return nil, err
	}
	if err := checkNewPassword(pw); err != nil {
		return nil, err
	}
	if err := checkDescription(description); err != nil {
		return nil, err
	}
	hash, err := s.hashPassword(ctx, pw)
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	refresh, ns, err := s.newSession(ctx, "", description, now)
	if err != nil {
		return nil, err
	}
	u, rec, err := s.store.CreateUserWithSession(ctx, NewUser{
		Email: email, PasswordHash: hash, DefaultRole: s.cfg.SignupRole,
		AllowedRoles: []string{s.cfg.SignupRole}, Now: now,
	}, &ns)
	if err != nil {
		return nil, err
	}
	return s.payload(ctx, u.User, rec.ID, now, refresh, rec.ExpiresAt)
}

// Login checks an email and password and opens a session. An unknown email
// and a wrong password give the same error after the same work. Failed
// checks are counted per account and per client address; while the
// throttle holds either back, Login answers RATE_LIMITED (with the wait)
// without checking the password, for known and unknown accounts alike.
// Errors: INVALID_CREDENTIALS, USER_DISABLED (only after a correct password),
// BAD_USER_INPUT, RATE_LIMITED, UNAVAILABLE.
func (s *Service) Login(ctx context.Context, identifier, pw string, description *string) (*AuthPayload, error) {
	// No password this long exists, whatever the identifier: refused before
	// any work, which tells nothing about the account.
	if len(pw) > MaxPasswordLength {
		return nil, ErrInvalidCredentials
	}
	if err := checkDescription(description); err != nil {
		return nil, err
	}
	// A caller that has already given up gets what the hasher would tell it,
	// before any database work.
	if ctx.Err() != nil {
		return nil, ErrBusy
	}
	// An identifier that is no email cannot name an account: it is counted
	// against the client address only, and costs the same as any other miss.
	email, _ := normalizeEmail(identifier)
	a := s.attempt(ctx, email)
	c, err := s.store.LoginCheck(ctx, a)
	if err != nil {
		return nil, err
	}
	if err := held(a, c.BlockedUntil); err != nil {
		return nil, err
	}
	ok, rehash, err := s.verify(ctx, c, pw)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, s.passwordFailed(ctx, a, EventLoginFailed, c.User.ID, "")
	}
	u := c.User
	if u.Disabled || banned(u.User, s.clock.Now()) {
		// A correct password: recorded, not counted as a failure.
		detail := map[string]any{"email": u.Email, "reason": "user disabled or banned"}
		if err := s.store.RecordAudit(ctx, auditEvent(ctx, a.Now, EventLoginFailed, u.ID, "", detail)); err != nil {
			return nil, err
		}
		return nil, ErrUserDisabled
	}
	newHash := ""
	if rehash {
		if newHash, err = s.hashPassword(ctx, pw); err != nil {
			return nil, err
		}
	}
	now := s.clock.Now()
	refresh, ns, err := s.newSession(ctx, u.ID, description, now)
	if err != nil {
		return nil, err
	}
	// The session, the re-hash, the account's throttle reset and the audit
	// event are one statement.
	rec, err := s.store.CreateSession(ctx, ns, u.PasswordHash, newHash)
	if err != nil {
		return nil, err
	}
	return s.payload(ctx, u.User, rec.ID, now, refresh, rec.ExpiresAt)
}

// verify checks pw against the candidate's stored hash. Every path that can
// end in INVALID_CREDENTIALS does one hash with the current parameters or
// the stored ones: an unknown user and an unreadable stored hash are checked
// against the dummy hash, so that the time taken does not tell them apart
// from a wrong password.
func (s *Service) verify(ctx context.Context, c LoginCandidate, pw string) (ok, rehash bool, err error) {
	if c.Found {
		ok, rehash, err = s.hasher.Verify(ctx, c.User.PasswordHash, pw)
		if !errors.Is(err, password.ErrMalformedHash) {
			return ok, rehash, s.hashError(err)
		}
	}
	return false, false, s.hashError(s.hasher.VerifyDummy(ctx, pw))
}

// Refresh rotates a refresh token: it returns a new access token and the
// token's successor. A retry with the just-retired token inside the grace
// window returns the same successor. An empty token means the one the
// request's RefreshTokenCarrier brought. Errors: INVALID_REFRESH_TOKEN (unknown,
// expired, revoked, or not a refresh token), REFRESH_TOKEN_REUSED (a retired
// token after grace: the session is ended), USER_DISABLED, UNAVAILABLE.
func (s *Service) Refresh(ctx context.Context, refresh string) (*AuthPayload, error) {
	refresh = incomingRefreshToken(ctx, refresh)
	if !refreshtoken.Valid(refresh) {
		return nil, ErrInvalidRefreshToken
	}
	now := s.clock.Now()
	successor := s.keys.Successor(refresh)
	client := ClientFrom(ctx)
	res, err := s.store.RotateRefreshToken(ctx, Rotation{
		TokenHash:     s.keys.Hash(refresh),
		SuccessorHash: s.keys.Hash(successor),
		Now:           now,
		GraceCutoff:   now.Add(-s.cfg.RefreshReuseGrace),
		ExpiresAt:     now.Add(s.cfg.RefreshTokenTTL),
		IP:            client.IP,
		UserAgent:     client.UserAgent,
	})
	if err != nil {
		return nil, err
	}
	s.observer.Refreshed(string(res.Outcome))
	switch res.Outcome {
	case Rotated, Replayed:
		return s.payload(ctx, res.User, res.SessionID, res.AuthTime, successor, res.ExpiresAt)
	case Disabled:
		return nil, ErrUserDisabled
	case Reused:
		s.revocations.SessionsEnded(now, res.SessionID)
		return nil, ErrRefreshTokenReused
	default:
		return nil, ErrInvalidRefreshToken
	}
}

// Revoke ends the session a refresh token belongs to (logout). It reports
// true for unknown tokens too, so a logout never tells whether a token was
// valid. An empty token means the one the request's RefreshTokenCarrier
// brought, which is then cleared. Errors: UNAVAILABLE.
func (s *Service) Revoke(ctx context.Context, refresh string) (bool, error) {
	refresh = incomingRefreshToken(ctx, refresh)
	if c := carrierFrom(ctx); c != nil {
		c.Clear()
	}
	if !refreshtoken.Valid(refresh) {
		return true, nil
	}
	now := s.clock.Now()
	id, err := s.store.RevokeSessionByTokenHash(ctx, s.keys.Hash(refresh), now)
	if err != nil {
		return false, err
	}
	s.revocations.SessionsEnded(now, id)
	return true, nil
}

// RevokeSession ends one of the caller's live sessions. Another user's
// session reads as missing. Errors: UNAUTHENTICATED, NOT_FOUND, UNAVAILABLE.
func (s *Service) RevokeSession(ctx context.Context, sessionID string) (bool, error) {
	p, err := PrincipalFrom(ctx)
	if err != nil {
		return false, err
	}
	if !isUUID(sessionID) {
		return false, ErrNotFound
	}
	now := s.clock.Now()
	ok, err := s.store.RevokeSession(ctx, p.UserID, sessionID, now)
	if err != nil {
		return false, err
	}
	if !ok {
		return false, ErrNotFound
	}
	s.revocations.SessionsEnded(now, sessionID)
	return true, nil
}

// RevokeAllSessions moves the caller's cut-off to now, so every token issued
// before is dead, ends every live session, its own too, and returns how many
// it ended. Errors: UNAUTHENTICATED, UNAVAILABLE.
func (s *Service) RevokeAllSessions(ctx context.Context) (int, error) {
	p, err := PrincipalFrom(ctx)
	if err != nil {
		return 0, err
	}
	return s.cutOff(ctx, p.UserID, CutOff{Now: s.clock.Now(), Reason: "all sessions revoked"})
}

// ChangePassword checks the caller's old password, sets the new one, ends
// every session of the user (the caller's too) and opens a fresh one. Wrong
// old passwords count against the login throttle like failed logins, so a
// stolen access token is no way around it.
// Errors: UNAUTHENTICATED, INVALID_CREDENTIALS (wrong old password),
// WEAK_PASSWORD, USER_DISABLED, RATE_LIMITED, UNAVAILABLE.
func (s *Service) ChangePassword(ctx context.Context, oldPassword, newPassword string) (*AuthPayload, error) {
	p, err := PrincipalFrom(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkNewPassword(newPassword); err != nil {
		return nil, err
	}
	if len(oldPassword) > MaxPasswordLength {
		return nil, ErrInvalidCredentials
	}
	u, err := s.store.UserByID(ctx, p.UserID)
	if err != nil {
		return nil, authError(err)
	}
	if u.Disabled {
		return nil, ErrUserDisabled
	}
	a := s.attempt(ctx, u.Email)
	until, err := s.store.ThrottledUntil(ctx, a)
	if err != nil {
		return nil, err
	}
	if err := held(a, until); err != nil {
		return nil, err
	}
	ok, _, err := s.verify(ctx, LoginCandidate{User: u, Found: true}, oldPassword)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, s.passwordFailed(ctx, a, EventPasswordChangeFailed, u.ID, p.SessionID)
	}
	newHash, err := s.hashPassword(ctx, newPassword)
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	refresh, ns, err := s.newSession(ctx, u.ID, nil, now)
	if err != nil {
		return nil, err
	}
	rec, ended, err := s.store.ChangePassword(ctx, u.ID, u.PasswordHash, newHash, ns)
	if err != nil {
		return nil, err
	}
	s.revocations.CutOff(u.ID, now)
	s.revocations.SessionsEnded(now, ended...)
	return s.payload(ctx, u.User, rec.ID, now, refresh, rec.ExpiresAt)
}

// Me returns the caller's account. Errors: UNAUTHENTICATED (also for a
// deleted or disabled user), UNAVAILABLE.
func (s *Service) Me(ctx context.Context) (*User, error) {
	p, err := PrincipalFrom(ctx)
	if err != nil {
		return nil, err
	}
	u, err := s.store.UserByID(ctx, p.UserID)
	if err != nil {
		return nil, authError(err)
	}
	if u.Disabled {
		return nil, ErrUnauthenticated
	}
	return &u.User, nil
}

// MySessions lists the caller's live sessions, newest first, marking the
// caller's own. Errors: UNAUTHENTICATED, UNAVAILABLE.
func (s *Service) MySessions(ctx context.Context) ([]*Session, error) {
	p, err := PrincipalFrom(ctx)
	if err != nil {
		return nil, err
	}
	sessions, err := s.store.ListSessions(ctx, p.UserID, s.clock.Now())
	if err != nil {
		return nil, err
	}
	for _, sess := range sessions {
		sess.Current = sess.ID == p.SessionID
	}
	return sessions, nil
}

// Authenticate verifies a bearer access token (signature, expiry) and checks
// it against the in-memory revocation state (denylist, the user's cut-off and
// ban, the session's end), with no database round trip.
// Errors: UNAUTHENTICATED.
func (s *Service) Authenticate(accessToken string) (token.Verified, error) {
	v, err := s.tokens.Verify(accessToken)
	if err != nil {
		return token.Verified{}, &Error{Code: CodeUnauthenticated, Message: ErrUnauthenticated.Message, Err: err}
	}
	if s.revocations.Revoked(v.UserID, v.SessionID, v.ID, v.IssuedAt) {
		return token.Verified{}, &Error{Code: CodeUnauthenticated, Message: "the access token has been revoked"}
	}
	return v, nil
}

// PrincipalOf is the caller a verified access token speaks for.
func PrincipalOf(v token.Verified) Principal {
	return Principal{UserID: v.UserID, SessionID: v.SessionID, TokenID: v.ID, TokenExpiresAt: v.ExpiresAt}
}

// payload issues an access token for u's session, assembles the answer and
// hands the refresh token to the request's carrier, if any.
func (s *Service) payload(ctx context.Context, u User, sessionID string, authTime time.Time, refresh string, refreshExpiresAt time.Time) (*AuthPayload, error) {
	tok, err := s.tokens.Issue(token.Claims{
		UserID:       u.ID,
		SessionID:    sessionID,
		DefaultRole:  u.DefaultRole,
		AllowedRoles: u.AllowedRoles,
		Custom:       u.Claims,
		AuthTime:     authTime,
	})
	if err != nil {
		return nil, fmt.Errorf("issuing access token: %w", err)
	}
	if c := carrierFrom(ctx); c != nil {
		c.Deliver(refresh, refreshExpiresAt)
	}
	return &AuthPayload{
		AccessToken:           tok.Value,
		AccessTokenExpiresAt:  tok.ExpiresAt,
		RefreshToken:          refresh,
		RefreshTokenExpiresAt: refreshExpiresAt,
		SessionID:             sessionID,
		User:                  &u,
	}, nil
}

// newSession makes a fresh refresh token and the session row that stores its hash.
func (s *Service) newSession(ctx context.Context, userID string, description *string, now time.Time) (string, NewSession, error) {
	refresh, err := refreshtoken.New(s.random)
	if err != nil {
		return "", NewSession{}, err
	}
	client := ClientFrom(ctx)
	maxExpiresAt := now.Add(s.cfg.SessionMaxAge)
	return refresh, NewSession{
		UserID:       userID,
		TokenHash:    s.keys.Hash(refresh),
		Description:  description,
		UserAgent:    client.UserAgent,
		IP:           client.IP,
		Now:          now,
		ExpiresAt:    minTime(now.Add(s.cfg.RefreshTokenTTL), maxExpiresAt),
		MaxExpiresAt: maxExpiresAt,
	}, nil
}

func (s *Service) hashPassword(ctx context.Context, pw string) (string, error) {
	h, err := s.hasher.Hash(ctx, pw)
	if err != nil {
		return "", s.hashError(err)
	}
	return h, nil
}

// hashError turns a saturated hasher into RATE_LIMITED rather than a timeout.
func (s *Service) hashError(err error) error {
	if errors.Is(err, password.ErrBusy) {
		return ErrBusy
	}
	return err
}

// authError reports a vanished user as UNAUTHENTICATED: the token outlived it.
func authError(err error) error {
	if CodeOf(err) == CodeNotFound {
		return ErrUnauthenticated
	}
	return err
}

func normalizeEmail(raw string) (string, error) {
	email := strings.ToLower(strings.TrimSpace(raw))
	if email == "" || len(email) > maxEmailLength || !utf8.ValidString(email) {
		return "", badInput("email must be a valid address of at most 254 bytes")
	}
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Address != email || strings.ContainsAny(email, " \t\r\n") {
		return "", badInput("email must be a valid address of at most 254 bytes")
	}
	return email, nil
}

func checkNewPassword(pw string) error {
	if !utf8.ValidString(pw) {
		return weakPassword("password must be valid UTF-8")
	}
	if utf8.RuneCountInString(pw) < MinPasswordLength {
		return weakPassword(fmt.Sprintf("password must be at least %d characters", MinPasswordLength))
	}
	if len(pw) > MaxPasswordLength {
		return weakPassword(fmt.Sprintf("password must be at most %d bytes", MaxPasswordLength))
	}
	return nil
}

func checkDescription(d *string) error {
	if d != nil && (len(*d) > maxDescriptionLength || !utf8.ValidString(*d)) {
		return badInput(fmt.Sprintf("description must be valid UTF-8 of at most %d bytes", maxDescriptionLength))
	}
	return nil
}

// cleanText makes header text (a user agent) storable: valid UTF-8 without
// NUL bytes, at most n bytes. It comes from clients and proxies as it is, so
// it is cleaned rather than refused.
func cleanText(s string, n int) string {
	s = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case !strings.ContainsRune("0123456789abcdefABCDEF", c):
			return false
		}
	}
	return true
}
