package auth

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"authgate/internal/onetime"
)

// OneTimeRequest asks for a one-time token (see internal/onetime): what it
// is for, whose it is, how long it lives, and optionally the mail that
// carries it, written in the statement that makes the token.
type OneTimeRequest struct {
	Purpose onetime.Purpose
	// UserID is the token's user ("" for an address without an account:
	// a first email sign-in).
	UserID string
	// Email is the address the token is sent to or is about (a new address
	// for email_change); a code is looked up by it. Normalised by the caller.
	Email string
	// TTL is how long the token lives; it must be positive.
	TTL time.Duration
	// Data is the flow's own payload, returned on consumption (a JSON
	// object; nil: {}).
	Data json.RawMessage
	// WithCode also makes a 6-digit code for the same token, consumed with
	// ConsumeOneTimeCode by (purpose, email).
	WithCode bool
	// Mail, when not nil, makes the mail that carries the token; it is
	// written to the outbox in the statement that makes the token, so the
	// mail exists exactly when the token does.
	Mail func(t IssuedOneTimeToken) Mail
	// Locale, when not empty, is stored as the user's language (UserID) in
	// the statement that makes the token.
	Locale string
	// Throttle, when not nil, limits how often this purpose mails this
	// address; a request it holds back makes no token and no mail, leaves
	// the older token valid, and IssueOneTimeToken answers errMailThrottled.
	Throttle *MailThrottle
}

// IssuedOneTimeToken is a token just made: the secret the caller hands
// out (once: only its hash is stored) and when it expires.
type IssuedOneTimeToken struct {
	Token string
	// Code is the 6-digit code (OneTimeRequest.WithCode), else "".
	Code      string
	ExpiresAt time.Time
}

// OneTimeToken is a stored token as consumption or a peek finds it.
type OneTimeToken struct {
	ID      string
	Purpose onetime.Purpose
	// UserID is "" for a token of an address without an account.
	UserID    string
	Email     string
	Data      json.RawMessage
	CreatedAt time.Time
	ExpiresAt time.Time
}

// MailThrottle limits the mails of one purpose to one address: at most
// Limit per Window, at least MinInterval apart. It is counted in the
// statement that makes the token, so a burst cannot pass it.
type MailThrottle struct {
	MinInterval time.Duration
	Limit       int
	Window      time.Duration
}

// DefaultMailThrottle is the issue's rule: 1 a minute, 10 a day.
var DefaultMailThrottle = MailThrottle{MinInterval: time.Minute, Limit: 10, Window: 24 * time.Hour}

// NewOneTimeToken is a token to store: only hashes of its secrets.
type NewOneTimeToken struct {
	Purpose onetime.Purpose
	UserID  string
	Email   string
	// Subject is what one live token is counted per, for exclusive
	// purposes (a newer token replaces the older); "" for none.
	Subject   string
	TokenHash []byte
	// CodeHash is nil when the token has no code.
	CodeHash  []byte
	Data      json.RawMessage
	Now       time.Time
	ExpiresAt time.Time
	// Mail, when not nil, is written to the outbox with the token (or, when
	// TokenHash is nil, alone: a mail that carries no token).
	Mail *OutboxMail
	// Locale, when not empty, is stored as UserID's language.
	Locale string
	// Throttle, when not nil, is counted per ThrottleSubject first; the
	// token is made only when it lets the mail through.
	Throttle        *MailThrottle
	ThrottleSubject string
}

// OneTimeStore is the part of Store behind one-time tokens. Each method is
// one statement.
type OneTimeStore interface {
	// IssueOneTimeToken counts t's throttle (if any) and, when it lets the
	// request through, stores t (replacing the live token of its subject),
	// writes its mail and reports true; false when the throttle held it
	// back, which changes nothing else.
	IssueOneTimeToken(ctx context.Context, t NewOneTimeToken) (bool, error)
	// ConsumeOneTimeToken marks the live (unused, unexpired at now) token
	// of purpose whose hash is one of hashes used, records e (with the
	// token's user and purpose) and returns it; ErrNotFound when there is
	// none.
	ConsumeOneTimeToken(ctx context.Context, purpose onetime.Purpose, hashes [][]byte, now time.Time, e AuditEvent) (OneTimeToken, error)
	// ConsumeOneTimeCode counts an attempt on the live token of purpose
	// with a code for email that has fewer than maxAttempts attempts, and
	// marks it used when its code hash is one of hashes, recording e;
	// ErrNotFound when no such token exists or the code is wrong.
	ConsumeOneTimeCode(ctx context.Context, purpose onetime.Purpose, email string, hashes [][]byte, maxAttempts int, now time.Time, e AuditEvent) (OneTimeToken, error)
	// PeekOneTimeToken returns the live token of purpose whose hash is one
	// of hashes, changing nothing; ErrNotFound when there is none.
	PeekOneTimeToken(ctx context.Context, purpose onetime.Purpose, hashes [][]byte, now time.Time) (OneTimeToken, error)
}

// EventOneTimeTokenUsed records the use of a one-time token or code:
// detail.purpose, detail.email, detail.code (true for a code).
const EventOneTimeTokenUsed AuditEventKind = "one_time_token_used"

// errMailThrottled is what IssueOneTimeToken answers when the request's
// MailThrottle held it back. The emailed flows answer true anyway: a
// throttled request must not tell whether the address has an account.
var errMailThrottled = newError(CodeRateLimited, "too many mails to this address; try again later")

// invalidOneTime is the answer for a token or code of purpose p that is
// unknown, used, expired or made for another purpose. Flows with their own
// code add their purpose here.
func invalidOneTime(p onetime.Purpose) error {
	switch p {
	case onetime.MFATicket:
		return errMFATicket
	case onetime.AuthCode, onetime.IdentityLink:
		return ErrInvalidAuthCode
	default:
		return ErrInvalidEmailToken
	}
}

// IssueOneTimeToken makes a token for r (and a code, and its mail, and
// counts its throttle) in one statement and returns the secrets, which
// exist nowhere else: hand them out once. For an exclusive purpose (see
// onetime.Purpose.Exclusive) it replaces the subject's older live token.
// Errors: EMAIL_NOT_CONFIGURED (r.Mail with no delivery), BAD_USER_INPUT,
// errMailThrottled (RATE_LIMITED), UNAVAILABLE.
func (s *Service) IssueOneTimeToken(ctx context.Context, r OneTimeRequest) (IssuedOneTimeToken, error) {
	if s.cfg.OneTimeKeys == nil {
		return IssuedOneTimeToken{}, onetime.ErrNoKeys
	}
	if !r.Purpose.Valid() {
		return IssuedOneTimeToken{}, badInput("unknown one-time token purpose")
	}
	if r.TTL <= 0 {
		return IssuedOneTimeToken{}, errors.New("a one-time token needs a positive lifetime")
	}
	if r.UserID != "" && !isUUID(r.UserID) {
		return IssuedOneTimeToken{}, badInput("user id must be a UUID")
	}
	if r.WithCode && r.Email == "" {
		return IssuedOneTimeToken{}, errors.New("a one-time code needs an address")
	}
	now := s.clock.Now()
	tok, err := onetime.NewToken(s.random)
	if err != nil {
		return IssuedOneTimeToken{}, err
	}
	issued := IssuedOneTimeToken{Token: tok, ExpiresAt: now.Add(r.TTL)}
	t := NewOneTimeToken{
		Purpose: r.Purpose, UserID: r.UserID, Email: r.Email,
		TokenHash: s.cfg.OneTimeKeys.TokenHash(tok), Data: r.Data,
		Now: now, ExpiresAt: issued.ExpiresAt, Throttle: r.Throttle, Locale: r.Locale,
	}
	if r.Purpose.Exclusive() {
		t.Subject = r.UserID
		if t.Subject == "" {
			t.Subject = r.Email
		}
	}
	if r.Throttle != nil {
		t.ThrottleSubject = string(r.Purpose) + ":" + r.Email
	}
	if r.WithCode {
		if issued.Code, err = onetime.NewCode(s.random); err != nil {
			return IssuedOneTimeToken{}, err
		}
		t.CodeHash = s.cfg.OneTimeKeys.CodeHash(r.Purpose, r.Email, issued.Code)
	}
	if r.Mail != nil {
		m, err := s.sealMail(r.Mail(issued))
		if err != nil {
			return IssuedOneTimeToken{}, err
		}
		t.Mail = &m
	}
	ok, err := s.store.IssueOneTimeToken(ctx, t)
	if err != nil {
		return IssuedOneTimeToken{}, err
	}
	if !ok {
		return IssuedOneTimeToken{}, errMailThrottled
	}
	return issued, nil
}

// ConsumeOneTimeToken uses token once, for purpose: of two racing uses,
// one wins. It records the use in the audit trail and returns the token.
// Errors: purpose's invalid-token answer (INVALID_EMAIL_TOKEN for the
// emailed purposes) for a token that is malformed, unknown, used, expired
// or made for another purpose, all alike; UNAVAILABLE.
func (s *Service) ConsumeOneTimeToken(ctx context.Context, purpose onetime.Purpose, token string) (OneTimeToken, error) {
	if s.cfg.OneTimeKeys == nil {
		return OneTimeToken{}, onetime.ErrNoKeys
	}
	if !onetime.WellFormed(token) {
		return OneTimeToken{}, invalidOneTime(purpose)
	}
	now := s.clock.Now()
	t, err := s.store.ConsumeOneTimeToken(ctx, purpose, s.cfg.OneTimeKeys.TokenHashes(token), now,
		auditEvent(ctx, now, EventOneTimeTokenUsed, "", "", nil))
	return t, oneTimeError(purpose, err)
}

// ConsumeOneTimeCode uses the code sent to email for purpose once. Every
// code tried counts; after onetime.MaxCodeAttempts the token's code is dead
// (its link too stays usable only until it expires: the code's attempts do
// not touch it). Errors: purpose's invalid-token answer for a wrong,
// malformed, used or expired code, all alike; UNAVAILABLE.
func (s *Service) ConsumeOneTimeCode(ctx context.Context, purpose onetime.Purpose, email, code string) (OneTimeToken, error) {
	if s.cfg.OneTimeKeys == nil {
		return OneTimeToken{}, onetime.ErrNoKeys
	}
	email, err := NormalizeEmail(email)
	if err != nil {
		return OneTimeToken{}, invalidOneTime(purpose)
	}
	// A malformed code is tried like a wrong one: it counts, so the answer
	// and the cost tell nothing.
	if !onetime.WellFormedCode(code) {
		code = ""
	}
	now := s.clock.Now()
	t, err := s.store.ConsumeOneTimeCode(ctx, purpose, email, s.cfg.OneTimeKeys.CodeHashes(purpose, email, code),
		onetime.MaxCodeAttempts, now, auditEvent(ctx, now, EventOneTimeTokenUsed, "", "", map[string]any{"code": true}))
	return t, oneTimeError(purpose, err)
}

// PeekOneTimeToken returns the live token of purpose without using it (an
// MFA ticket is read while its second factor is checked, and used only
// when that succeeds). Errors: as ConsumeOneTimeToken.
func (s *Service) PeekOneTimeToken(ctx context.Context, purpose onetime.Purpose, token string) (OneTimeToken, error) {
	if s.cfg.OneTimeKeys == nil {
		return OneTimeToken{}, onetime.ErrNoKeys
	}
	if !onetime.WellFormed(token) {
		return OneTimeToken{}, invalidOneTime(purpose)
	}
	t, err := s.store.PeekOneTimeToken(ctx, purpose, s.cfg.OneTimeKeys.TokenHashes(token), s.clock.Now())
	return t, oneTimeError(purpose, err)
}

func oneTimeError(purpose onetime.Purpose, err error) error {
	if err != nil && CodeOf(err) == CodeNotFound {
		return invalidOneTime(purpose)
	}
	return err
}
