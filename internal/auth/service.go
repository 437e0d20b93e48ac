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
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"authgate/internal/clock"
	"authgate/internal/onetime"
	"authgate/internal/password"
	"authgate/internal/redirect"
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
	// RefreshReplayLimit is how many times one rotation's retired token may
	// be replayed within grace, by the client that rotated; 0: never.
	RefreshReplayLimit int
	// AuditRefreshes writes an audit row for every rotation and replay (reuse
	// is always audited).
	AuditRefreshes bool
	// SignupEnabled allows the signup operation.
	SignupEnabled bool
	// SignupRole is the default and only allowed role of self-registered users.
	SignupRole string
	// SignupIPLimit is how many sign-ups one client address may make per
	// SignupWindow; 0 means no limit.
	SignupIPLimit int
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
	// MFA is the second-factor and passkey setup; zero: both are off.
	MFA MFAConfig
	// OneTimeKeys hash one-time tokens and codes; nil: the flows that need
	// them fail.
	OneTimeKeys *onetime.Keys
	// EmailVerification is the verification policy; "": optional.
	EmailVerification EmailVerification
	// EmailTokenTTL is the lifetime of verify and reset links,
	// EmailSignInTTL that of sign-in links and codes; zero: the defaults.
	EmailTokenTTL  time.Duration
	EmailSignInTTL time.Duration
	// Redirects are the pages emailed links may lead to (nil: none but
	// none: every request needs a redirect the allow-list admits).
	Redirects *redirect.AllowList
	// EmailIPLimit is how many mail requests (the request mutations) one
	// client address may make per MailRequestWindow; 0: no limit.
	EmailIPLimit int
	// Providers are the ids of the configured identity providers
	// (AUTHGATE_PROVIDERS); any other id is UNKNOWN_PROVIDER.
	Providers []string
	// PublicURL is where browsers reach authgate (AUTHGATE_PUBLIC_URL,
	// without a trailing slash): identity links lead there.
	PublicURL string
}

// Service implements every authgate operation.
type Service struct {
	store       Store
	revocations Revocations
	observer    Observer
	tokens      *token.Issuer
	hasher      *password.Hasher
	keys        *refreshtoken.Keys
	clock       clock.Clock
	random      io.Reader
	cfg         Config

	// lifetimeRecordedUntil (unix microseconds): tokens issued until then
	// are covered by the database's record of this instance's lifetime.
	lifetimeMu            sync.Mutex
	lifetimeRecordedUntil atomic.Int64
}

// New returns a Service. random is crypto/rand.Reader outside tests;
// revocations may be nil where nobody is authenticated (the CLI), and keys
// where no refresh token is made or checked (the CLI's other commands).
func New(store Store, revocations Revocations, tokens *token.Issuer, hasher *password.Hasher, keys *refreshtoken.Keys, clk clock.Clock, random io.Reader, cfg Config) *Service {
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

// Signup creates a user with the sign-up role and opens its first session
// (SignupWith without a locale).
func (s *Service) Signup(ctx context.Context, email, pw string, description *string) (*AuthPayload, error) {
	return s.SignupWith(ctx, SignupRequest{Email: email, Password: pw, Description: description})
}

// SignupRequest is a sign-up: the address, the password, the first
// session's description and the language of the user's mails (BCP 47).
type SignupRequest struct {
	Email       string
	Password    string
	Description *string
	Locale      *string
}

// SignupWith creates a user with the sign-up role and opens its first
// session. Every sign-up that gets past the input checks, one that finds
// the address taken too, counts against the client address's hourly limit
// (Config.SignupIPLimit), checked before the password is hashed.
//
// While email verification is optional and mail is delivered, the new user
// is mailed a verification link. While it is required, no session is
// opened: the user is mailed the link and the answer is EMAIL_NOT_VERIFIED;
// an address that already has an account gets the same answer (so a
// sign-up tells nobody whether an address is taken) and its owner a mail
// saying so (signup_existing), instead of EMAIL_TAKEN.
// Errors: FORBIDDEN (sign-up off), BAD_USER_INPUT, WEAK_PASSWORD, EMAIL_TAKEN
// (verification off or optional), EMAIL_NOT_VERIFIED (required),
// EMAIL_NOT_CONFIGURED (required, and no mail delivery), RATE_LIMITED (the
// address's limit, with the wait; or hashing saturated), UNAVAILABLE.
func (s *Service) SignupWith(ctx context.Context, r SignupRequest) (*AuthPayload, error) {
	email, pw, description := r.Email, r.Password, r.Description
	if !s.cfg.SignupEnabled {
		return nil, ErrSignupDisabled
	}
	email, err := NormalizeEmail(email)
	if err != nil {
		return nil, err
	}
	if err := checkNewPassword(pw); err != nil {
		return nil, err
	}
	if err := checkDescription(description); err != nil {
		return nil, err
	}
	locale, err := checkLocale(r.Locale)
	if err != nil {
		return nil, err
	}
	required := s.verification() == VerificationRequired
	if required && !s.MailConfigured() {
		return nil, ErrEmailNotConfigured
	}
	reserved, err := s.reserveSignup(ctx)
	if err != nil {
		return nil, err
	}
	hash, err := s.hashPassword(ctx, pw)
	if err != nil {
		if reserved != nil {
			_ = s.store.ReleaseSignup(context.WithoutCancel(ctx), *reserved)
		}
		return nil, err
	}
	now := s.clock.Now()
	nu := NewUser{
		Email: email, PasswordHash: hash, DefaultRole: s.cfg.SignupRole,
		AllowedRoles: []string{s.cfg.SignupRole}, Now: now, Locale: locale,
	}
	if required {
		return nil, s.signupUnverified(ctx, nu)
	}
	ns, err := s.newSession(ctx, "", description, now, passwordOnly)
	if err != nil {
		return nil, err
	}
	u, rec, err := s.store.CreateUserWithSession(ctx, nu, &ns)
	if err != nil {
		return nil, err
	}
	if s.verification() == VerificationOptional && s.MailConfigured() {
		// The account is made and signed in: a verification mail that
		// cannot be written now is no reason to fail the sign-up, and the
		// user can ask for another (sendVerificationEmail).
		_ = s.mailVerification(ctx, u)
	}
	return s.openedPayload(ctx, u.User, rec, ns, now)
}

// signupUnverified is a sign-up while verification is required: it makes
// the account without a session and mails the verification link, or, for
// an address that has an account, mails its owner; it answers
// EMAIL_NOT_VERIFIED either way.
func (s *Service) signupUnverified(ctx context.Context, nu NewUser) error {
	nu.Event = EventSignup
	u, _, err := s.store.CreateUserWithSession(ctx, nu, nil)
	switch {
	case errors.Is(err, ErrEmailTaken):
		if err := s.mailSignupExisting(ctx, nu.Email, nu.Locale); err != nil {
			return err
		}
	case err != nil:
		return err
	default:
		if err := s.mailVerification(ctx, u); err != nil {
			return err
		}
	}
	return ErrEmailNotVerified
}

// mailVerification mails u a verification link to AUTHGATE_APP_URL
// (throttled like sendVerificationEmail).
func (s *Service) mailVerification(ctx context.Context, u UserRecord) error {
	target, err := s.linkTarget(nil)
	if err != nil {
		return err
	}
	return s.mailToken(ctx, emailRequest{email: u.Email, target: target}, onetime.Verify, u, true,
		OneTimeRequest{UserID: u.ID, TTL: s.emailTokenTTL()})
}

// mailSignupExisting tells the owner of email that someone tried to sign
// up with it (throttled per address like the other mails); the mail
// carries no token.
func (s *Service) mailSignupExisting(ctx context.Context, email, locale string) error {
	u, err := s.store.UserByEmail(ctx, email)
	if err != nil {
		return err
	}
	if locale == "" {
		locale = u.Locale
	}
	m, err := s.sealMail(Mail{Template: MailSignupExisting, To: email, Locale: locale, UserID: u.ID})
	if err != nil {
		return err
	}
	_, err = s.store.IssueOneTimeToken(ctx, NewOneTimeToken{
		Purpose: onetime.Purpose(MailSignupExisting), Now: s.clock.Now(), Mail: &m,
		Throttle: &DefaultMailThrottle, ThrottleSubject: string(MailSignupExisting) + ":" + email,
	})
	return err
}

// Login checks an email and password and opens a session. An unknown email
// and a wrong password give the same error after the same work. Failed
// checks are counted per account and per client address; while the
// throttle holds either back, Login answers RATE_LIMITED (with the wait)
// without checking the password, for known and unknown accounts alike.
// Errors: INVALID_CREDENTIALS, USER_DISABLED and EMAIL_NOT_VERIFIED
// (verification required; both only after a correct password),
// BAD_USER_INPUT (an identifier or description that cannot be stored,
// refused before any other work), RATE_LIMITED, UNAVAILABLE.
func (s *Service) Login(ctx context.Context, identifier, pw string, description *string) (*AuthPayload, error) {
	// Every input is checked before any hashing or throttle work: one the
	// database would refuse must never fail only after a correct password,
	// or the answer would tell a correct password from a wrong one.
	if err := checkIdentifier(identifier); err != nil {
		return nil, err
	}
	if err := checkDescription(description); err != nil {
		return nil, err
	}
	// No password this long exists, whatever the identifier: refused before
	// any work, which tells nothing about the account.
	if len(pw) > MaxPasswordLength {
		return nil, ErrInvalidCredentials
	}
	// A caller that has already given up gets what the hasher would tell it,
	// before any database work.
	if ctx.Err() != nil {
		return nil, ErrBusy
	}
	// An identifier that is no email cannot name an account: it is counted
	// against the client address only, and costs the same as any other miss.
	email, _ := NormalizeEmail(identifier)
	c, a, err := s.reserve(ctx, s.attempt(ctx, email))
	if err != nil {
		return nil, err
	}
	ok, rehash, err := s.verify(ctx, c, pw)
	if err != nil {
		s.release(ctx, a)
		return nil, err
	}
	if !ok {
		return nil, s.passwordFailed(ctx, a, EventLoginFailed, c.User.ID, "")
	}
	u := c.User
	if u.Disabled || banned(u.User, s.clock.Now()) {
		// A correct password: recorded, not counted as a failure.
		e := auditEvent(ctx, a.Now, EventLoginFailed, u.ID, "", attemptDetail(a, map[string]any{"reason": "user disabled or banned"}))
		if err := s.store.ReleaseLoginAttempt(ctx, a, &e); err != nil {
			return nil, err
		}
		return nil, ErrUserDisabled
	}
	if s.verification() == VerificationRequired && !u.EmailVerified {
		// A correct password, as for a disabled user: recorded, not counted.
		e := auditEvent(ctx, a.Now, EventLoginFailed, u.ID, "", attemptDetail(a, map[string]any{"reason": "email not verified"}))
		if err := s.store.ReleaseLoginAttempt(ctx, a, &e); err != nil {
			return nil, err
		}
		return nil, ErrEmailNotVerified
	}
	newHash := ""
	if rehash {
		// Upgrading the stored hash is a favour, not a condition: when the
		// hasher is saturated the sign-in goes on, and the next one upgrades.
		newHash, _ = s.hashPassword(ctx, pw)
	}
	v := VerifiedSignIn{PasswordHash: u.PasswordHash, ValidAfter: u.ValidAfter, Rehash: newHash, Attempt: &a, AMR: []string{AMRPassword}}
	if err := s.secondFactorDue(ctx, u, v); err != nil {
		return nil, err
	}
	return s.openSession(ctx, u, v, description)
}

// openSession opens a session for u, whose sign-in verified v, and answers
// with its tokens: the one way every sign-in flow ends. The session, the
// re-hash, the settling of the throttle's reservation and the audit event
// are one statement, which opens nothing if the user changed since the
// check (see VerifiedSignIn): the sign-in then fails as if it had come
// after the change. Errors: INVALID_CREDENTIALS (the password changed,
// every session was revoked, or the user vanished since the check),
// USER_DISABLED (disabled or banned since), UNAVAILABLE.
func (s *Service) openSession(ctx context.Context, u UserRecord, v VerifiedSignIn, description *string) (*AuthPayload, error) {
	now := s.clock.Now()
	ns, err := s.newSession(ctx, u.ID, description, now, assuranceOf(v.AMR))
	if err != nil {
		return nil, err
	}
	rec, outcome, err := s.store.OpenSession(ctx, ns, v)
	if err != nil {
		return nil, err
	}
	if outcome != SignInOpened {
		return nil, s.signInOvertaken(ctx, u, v, outcome, now)
	}
	return s.openedPayload(ctx, u.User, rec, ns, now)
}

// signInOvertaken records a sign-in that a change of its user overtook
// between the check and the session, settles its throttle reservation and
// returns its answer. A password that is no longer the account's counts as
// a failed check; a correct one refused for a disable, a ban or a
// revocation of every session is given back, as at the check.
func (s *Service) signInOvertaken(ctx context.Context, u UserRecord, v VerifiedSignIn, outcome SignInOutcome, now time.Time) error {
	a := LoginAttempt{Now: now}
	if v.Attempt != nil {
		a = *v.Attempt
	}
	userID := u.ID
	if outcome == SignInUserGone {
		userID = ""
	}
	e := auditEvent(ctx, a.Now, EventLoginFailed, userID, "", map[string]any{"email": u.Email, "reason": string(outcome) + " during sign-in"})
	switch outcome {
	case SignInDisabled:
		if err := s.store.ReleaseLoginAttempt(ctx, a, &e); err != nil {
			return err
		}
		return ErrUserDisabled
	case SignInCutOff:
		if err := s.store.ReleaseLoginAttempt(ctx, a, &e); err != nil {
			return err
		}
		return ErrInvalidCredentials
	}
	if err := s.store.RecordLoginFailure(ctx, a, e); err != nil {
		return err
	}
	return ErrInvalidCredentials
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
// token's successor. The client that rotated may replay the just-retired
// token within the grace window a few times (Config.RefreshReplayLimit) and
// gets the same successor. An empty token means the one the request's
// RefreshTokenCarrier brought. Errors: INVALID_REFRESH_TOKEN (unknown,
// forged, expired, revoked, or not a refresh token: nothing changes),
// REFRESH_TOKEN_REUSED (an older token, or a replay the rule refuses: the
// session is ended), USER_DISABLED, UNAVAILABLE.
func (s *Service) Refresh(ctx context.Context, refresh string) (*AuthPayload, error) {
	presented, ok := s.presentedToken(incomingRefreshToken(ctx, refresh))
	if !ok {
		return nil, ErrInvalidRefreshToken
	}
	now := s.clock.Now()
	client := ClientFrom(ctx)
	res, err := s.store.RotateRefreshToken(ctx, Rotation{
		PresentedToken: presented,
		Now:            now,
		GraceCutoff:    now.Add(-s.cfg.RefreshReuseGrace),
		Client:         ReplayClient(client),
		ReplayLimit:    s.cfg.RefreshReplayLimit,
		ExpiresAt:      now.Add(s.cfg.RefreshTokenTTL),
		IP:             client.IP,
		UserAgent:      client.UserAgent,
		Audit:          s.cfg.AuditRefreshes,
	})
	if err != nil {
		return nil, err
	}
	s.observer.Refreshed(string(res.Outcome))
	switch res.Outcome {
	case Rotated, Replayed:
		successor, err := s.keys.Mint(res.SessionID, res.SuccessorGeneration, res.SuccessorProof)
		if err != nil {
			return nil, err
		}
		return s.payload(ctx, res.User, res.SessionID, res.AuthTime, Assurance{AMR: res.AMR, Level: res.AuthLevel}, successor, res.ExpiresAt)
	case Disabled:
		return nil, ErrUserDisabled
	case Reused:
		s.revocations.SessionsEnded(now, res.SessionID)
		return nil, ErrRefreshTokenReused
	default:
		return nil, ErrInvalidRefreshToken
	}
}

// presentedToken checks a refresh token as far as the server keys can: a
// format-2 token's MAC (a forged one never reaches the database), or the
// shape of a format-1 token and its hash under every candidate key.
func (s *Service) presentedToken(refresh string) (PresentedToken, bool) {
	if s.keys == nil {
		return PresentedToken{}, false
	}
	switch t, kind := s.keys.Parse(refresh); kind {
	case refreshtoken.Current:
		return PresentedToken{SessionID: t.SessionID, Generation: t.Generation, Proof: t.Proof}, true
	case refreshtoken.Legacy:
		if hashes := s.keys.LegacyHashes(refresh); len(hashes) > 0 {
			return PresentedToken{LegacyHashes: hashes}, true
		}
	}
	return PresentedToken{}, false
}

// Revoke ends the session a refresh token belongs to (logout); the token may
// be the current one or an older one of the session. It reports true for
// unknown tokens too, so a logout never tells whether a token was valid. An
// empty token means the one the request's RefreshTokenCarrier brought, which
// is then cleared. Errors: UNAVAILABLE.
func (s *Service) Revoke(ctx context.Context, refresh string) (bool, error) {
	refresh = incomingRefreshToken(ctx, refresh)
	if c := carrierFrom(ctx); c != nil {
		c.Clear()
	}
	clearAccessToken(ctx)
	presented, ok := s.presentedToken(refresh)
	if !ok {
		return true, nil
	}
	now := s.clock.Now()
	id, err := s.store.RevokeSessionByRefreshToken(ctx, presented, now)
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
		return false, errNoSuchSession
	}
	now := s.clock.Now()
	ok, err := s.store.RevokeSession(ctx, p.UserID, sessionID, now)
	if err != nil {
		return false, err
	}
	if !ok {
		return false, errNoSuchSession
	}
	s.revocations.SessionsEnded(now, sessionID)
	if sessionID == p.SessionID {
		clearAccessToken(ctx)
	}
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
	n, err := s.cutOff(ctx, p.UserID, CutOff{Now: s.clock.Now(), Reason: "all sessions revoked"})
	if err == nil {
		clearAccessToken(ctx) // the caller's own session ended too
	}
	return n, err
}

// ChangePassword checks the caller's old password, sets the new one, ends
// every session of the user (the caller's too) and opens a fresh one. Wrong
// old passwords count against the login throttle like failed logins, so a
// stolen access token is no way around it.
// Errors: UNAUTHENTICATED, INVALID_CREDENTIALS (wrong old password),
// WEAK_PASSWORD, USER_DISABLED, BAD_USER_INPUT (the account has no
// password: it sets one through the password-reset flow), RATE_LIMITED,
// UNAVAILABLE.
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
	if u.PasswordHash == "" {
		// A user made by a provider or an emailed sign-in: there is no old
		// password to prove, and nothing to count against the throttle.
		return nil, errNoPassword
	}
	_, a, err := s.reserve(ctx, s.attempt(ctx, u.Email))
	if err != nil {
		return nil, err
	}
	ok, _, err := s.verify(ctx, LoginCandidate{User: u, Found: true}, oldPassword)
	if err != nil {
		s.release(ctx, a)
		return nil, err
	}
	if !ok {
		return nil, s.passwordFailed(ctx, a, EventPasswordChangeFailed, u.ID, p.SessionID)
	}
	newHash, err := s.hashPassword(ctx, newPassword)
	if err != nil {
		// The old password was proven; only the new one could not be hashed.
		s.release(ctx, a)
		return nil, err
	}
	now := s.clock.Now()
	ns, err := s.newSession(ctx, u.ID, nil, now, s.sessionAssurance(ctx, p))
	if err != nil {
		return nil, err
	}
	rec, ended, err := s.store.ChangePassword(ctx, u.ID, u.PasswordHash, newHash, ns, a)
	if err != nil {
		return nil, err
	}
	s.revocations.CutOff(u.ID, now)
	s.revocations.SessionsEnded(now, ended...)
	return s.openedPayload(ctx, u.User, rec, ns, now)
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

// Authenticate verifies a bearer access token (signature, expiry, lifetime)
// and checks it against the in-memory revocation state (denylist, the
// user's cut-off and ban, the session's end), with no database round trip;
// while that state's feed is down, against the database instead (one
// indexed query). Errors: UNAUTHENTICATED, with Reason ReasonExpired,
// ReasonInvalid or ReasonRevoked; UNAVAILABLE (the feed and the database are
// both down).
func (s *Service) Authenticate(ctx context.Context, accessToken string) (token.Verified, error) {
	v, err := s.tokens.Verify(accessToken)
	if errors.Is(err, token.ErrExpired) {
		return token.Verified{}, &Error{Code: CodeUnauthenticated, Message: "the access token has expired; refresh it", Err: err, Reason: ReasonExpired}
	}
	if err != nil {
		return token.Verified{}, &Error{Code: CodeUnauthenticated, Message: "the access token is invalid", Err: err, Reason: ReasonInvalid}
	}
	revoked, err := s.revoked(ctx, RevocationCheck{UserID: v.UserID, IssuedAt: v.IssuedAt, SessionID: v.SessionID, TokenID: v.ID})
	if err != nil {
		return token.Verified{}, err
	}
	if revoked {
		return token.Verified{}, &Error{Code: CodeUnauthenticated, Message: "the access token has been revoked", Reason: ReasonRevoked}
	}
	return v, nil
}

// PrincipalOf is the caller a verified access token speaks for.
func PrincipalOf(v token.Verified) Principal {
	return Principal{UserID: v.UserID, SessionID: v.SessionID, TokenID: v.ID, TokenExpiresAt: v.ExpiresAt}
}

// payload issues an access token for u's session, assembles the answer and
// hands the tokens to the request's carriers, if any; a refresh token a
// carrier took is not in the answer.
func (s *Service) payload(ctx context.Context, u User, sessionID string, authTime time.Time, a Assurance, refresh string, refreshExpiresAt time.Time) (*AuthPayload, error) {
	if err := s.coverTokenLifetime(ctx, s.clock.Now()); err != nil {
		return nil, err
	}
	a = a.normalized()
	defaultRole, roles := s.rolesAt(u, a.Level)
	tok, err := s.tokens.Issue(token.Claims{
		UserID:       u.ID,
		SessionID:    sessionID,
		DefaultRole:  defaultRole,
		AllowedRoles: roles,
		Custom:       withoutReserved(u.Claims),
		AuthTime:     authTime,
		AMR:          a.AMR,
		AuthLevel:    a.Level,
	})
	if err != nil {
		return nil, fmt.Errorf("issuing access token: %w", err)
	}
	now := s.clock.Now()
	if c := carrierFrom(ctx); c != nil {
		// The cookie carries it, and only the cookie: a page script (XSS)
		// must not read it from the body.
		c.Deliver(refresh, refreshExpiresAt.Sub(now))
		refresh = ""
	}
	deliverAccessToken(ctx, tok.Value, tok.ExpiresAt.Sub(now))
	return &AuthPayload{
		AccessToken:           tok.Value,
		AccessTokenExpiresAt:  tok.ExpiresAt,
		RefreshToken:          refresh,
		RefreshTokenExpiresAt: refreshExpiresAt,
		SessionID:             sessionID,
		User:                  &u,
	}, nil
}

// newSession makes the row of a fresh session, with its token secret.
func (s *Service) newSession(ctx context.Context, userID string, description *string, now time.Time, a Assurance) (NewSession, error) {
	if s.keys == nil {
		return NewSession{}, errors.New("no refresh-token key is configured")
	}
	secret, err := refreshtoken.NewSecret(s.random)
	if err != nil {
		return NewSession{}, err
	}
	client := ClientFrom(ctx)
	maxExpiresAt := now.Add(s.cfg.SessionMaxAge)
	return NewSession{
		UserID:       userID,
		TokenSecret:  secret,
		Description:  description,
		UserAgent:    client.UserAgent,
		IP:           client.IP,
		Now:          now,
		ExpiresAt:    minTime(now.Add(s.cfg.RefreshTokenTTL), maxExpiresAt),
		MaxExpiresAt: maxExpiresAt,
		AMR:          a.normalized().AMR,
		AuthLevel:    a.normalized().Level,
	}, nil
}

// openedPayload answers a sign-in that opened session rec (made from ns):
// its first refresh token is generation 0 of the session's secret.
func (s *Service) openedPayload(ctx context.Context, u User, rec SessionRecord, ns NewSession, now time.Time) (*AuthPayload, error) {
	refresh, err := s.keys.Mint(rec.ID, 0, refreshtoken.Proof(ns.TokenSecret, 0))
	if err != nil {
		return nil, err
	}
	return s.payload(ctx, u, rec.ID, now, Assurance{AMR: ns.AMR, Level: ns.AuthLevel}, refresh, rec.ExpiresAt)
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

// checkDescription refuses a session description the database could not
// store: over the length limit, not UTF-8, or holding a NUL character.
func checkDescription(d *string) error {
	if d != nil && (len(*d) > maxDescriptionLength || !storable(*d)) {
		return badInput(fmt.Sprintf("description must be valid UTF-8 of at most %d bytes, without NUL characters", maxDescriptionLength))
	}
	return nil
}

// checkIdentifier refuses a sign-in identifier that no stored email can be:
// not UTF-8, or holding a NUL character. Any other identifier that is no
// email is a miss like a wrong password (counted against the client address).
func checkIdentifier(identifier string) error {
	if !storable(identifier) {
		return badInput("identifier must be valid UTF-8 without NUL characters")
	}
	return nil
}

// storable reports whether PostgreSQL can store s as text: valid UTF-8
// without NUL characters.
func storable(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
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
