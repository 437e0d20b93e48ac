package auth

import (
	"context"
	"net/netip"
	"time"
)

// ThrottleConfig sets the login throttle. Failed password checks are counted
// per account (the normalised email, whether or not a user has it, so the
// throttle never tells whether an account exists) and per client address.
// After FreeFailures in a row a subject is held back for BackoffBase, then
// twice as long after each further failure, up to BackoffMax; MaxFailures
// within one Window lock it out until that window ends. Every wait ends: a
// correct password after it always works, and resets the account's count.
type ThrottleConfig struct {
	// FreeFailures and MaxFailures apply to an account.
	FreeFailures int
	MaxFailures  int
	// IPFreeFailures and IPMaxFailures apply to a client address (an IPv6
	// address by its /64, which one client can hold whole).
	IPFreeFailures int
	IPMaxFailures  int
	BackoffBase    time.Duration
	BackoffMax     time.Duration
	// Window is the counting window; a failure after it has passed starts
	// a new one, with the count back at one.
	Window time.Duration
}

// DefaultThrottle returns the defaults: back-off after 5 failures in a row
// (1 s, doubling, at most 30 s), lock-out at 100 failures per account per
// hour (OWASP), and 20 and 1000 for a client address.
func DefaultThrottle() ThrottleConfig {
	return ThrottleConfig{
		FreeFailures:   5,
		MaxFailures:    100,
		IPFreeFailures: 20,
		IPMaxFailures:  1000,
		BackoffBase:    time.Second,
		BackoffMax:     30 * time.Second,
		Window:         time.Hour,
	}
}

// ThrottleStore is the part of Store behind the login throttle. Each method
// is one statement.
//
// A password check is reserved before it is made, so that a burst of
// concurrent attempts cannot all pass the check before any failure is
// counted: ReserveLoginAttempt checks whether the throttle holds a subject
// back and, when it does not, counts the attempt as a failure against each
// subject, in one statement, under the subjects' row locks. The outcome
// then settles the reservation: RecordLoginFailure keeps the count (and
// writes the audit trail), a successful sign-in removes the account's
// count and gives one back to the address (in the statement that opens the
// session), and ReleaseLoginAttempt gives both back (a check that was not
// made, or a correct password refused for another reason). A reservation
// that is never settled (the process died) stays counted: fail closed.
type ThrottleStore interface {
	// ReserveLoginAttempt finds the user whose email is a.Account (Found is
	// false when there is none, or a.Account is empty) and, unless the
	// throttle holds one of a's subjects back (BlockedUntil is then when it
	// lets go, and nothing is counted), counts the attempt as a failure
	// against each subject (Reserved says what it counted). A subject that
	// a concurrent attempt started holding back is not counted.
	ReserveLoginAttempt(ctx context.Context, a LoginAttempt) (LoginCandidate, error)
	// ThrottledUntil reports until when the throttle holds a's subjects back
	// (zero, or not after a.Now, when it does not).
	ThrottledUntil(ctx context.Context, a LoginAttempt) (time.Time, error)
	// RecordLoginFailure settles a's reservation as a failed password check:
	// it records e in the audit trail, with a lockout event for each subject
	// the failure starts holding back.
	RecordLoginFailure(ctx context.Context, a LoginAttempt, e AuditEvent) error
	// ReleaseLoginAttempt gives back what a's reservation counted and, when
	// e is not nil, records e in the audit trail.
	ReleaseLoginAttempt(ctx context.Context, a LoginAttempt, e *AuditEvent) error
}

// SignupWindow is the period AUTHGATE_SIGNUP_IP_LIMIT counts sign-ups in.
const SignupWindow = time.Hour

// SignupStore is the part of Store behind the sign-up limit. Each method is
// one statement.
type SignupStore interface {
	// ReserveSignup counts a sign-up against a.Address, unless the address
	// has made a.Limit in the current window: then it counts nothing and
	// reports until when the window holds it back (zero when reserved).
	ReserveSignup(ctx context.Context, a SignupAttempt) (time.Time, error)
	// ReleaseSignup gives back a reserved sign-up that never ran.
	ReleaseSignup(ctx context.Context, a SignupAttempt) error
}

// SignupAttempt is one sign-up as its limit sees it.
type SignupAttempt struct {
	// Scope is the throttle's scope: "" (sign-ups) or "mail_address" (the
	// request mutations of the emailed flows, counted the same way).
	Scope string
	// Address is the client address (IPv6 by its /64).
	Address string
	Now     time.Time
	Limit   int
	Window  time.Duration
}

// reserveSignup counts a sign-up of the request's client address before any
// hashing, or answers RATE_LIMITED with the wait; the attempt it returns is
// to be given back if no sign-up is tried after all. Without a limit, or
// without a known address (the CLI), nothing is counted.
func (s *Service) reserveSignup(ctx context.Context) (*SignupAttempt, error) {
	address := throttleAddress(ClientFrom(ctx).IP)
	if s.cfg.SignupIPLimit <= 0 || address == "" {
		return nil, nil
	}
	a := &SignupAttempt{Address: address, Now: s.clock.Now(), Limit: s.cfg.SignupIPLimit, Window: SignupWindow}
	until, err := s.store.ReserveSignup(ctx, *a)
	if err != nil {
		return nil, err
	}
	if !until.IsZero() {
		// A window that ended just now still refuses this one attempt;
		// the client may try again at once.
		return nil, &Error{Code: CodeRateLimited, Message: "too many sign-ups from this address; try again later",
			RetryAfter: max(until.Sub(a.Now), time.Second)}
	}
	return a, nil
}

// LoginAttempt is one password check as the throttle sees it.
type LoginAttempt struct {
	// Account is the normalised email; empty when the identifier is none.
	Account string
	// Address is the client address; empty when unknown.
	Address string
	Now     time.Time
	Policy  ThrottleConfig
	// Reserved is what ReserveLoginAttempt counted for this attempt.
	Reserved Reservation
}

// Reservation is what ReserveLoginAttempt counted: for each subject, the
// failure count the attempt brought it to (0: not counted) and until when
// that count holds the subject back (zero: not at all).
type Reservation struct {
	AccountFailures, AddressFailures int
	AccountUntil, AddressUntil       time.Time
}

// LoginCandidate is what ReserveLoginAttempt found.
type LoginCandidate struct {
	User  UserRecord
	Found bool
	// BlockedUntil is when the throttle lets the attempt through; zero when
	// it does now.
	BlockedUntil time.Time
	// Reserved is what the attempt counted.
	Reserved Reservation
}

// attempt describes a password check on account (a normalised email, or ""
// for an identifier that is none) by the request's client.
func (s *Service) attempt(ctx context.Context, account string) LoginAttempt {
	return LoginAttempt{
		Account: account,
		Address: throttleAddress(ClientFrom(ctx).IP),
		Now:     s.clock.Now(),
		Policy:  s.cfg.Throttle,
	}
}

// held returns RATE_LIMITED when the throttle holds a back until until.
func held(a LoginAttempt, until time.Time) error {
	if wait := until.Sub(a.Now); wait > 0 {
		return throttled(wait)
	}
	return nil
}

// reserve reserves the password check a (see ThrottleStore) and returns
// the candidate and a with its reservation, or RATE_LIMITED with nothing
// counted.
func (s *Service) reserve(ctx context.Context, a LoginAttempt) (LoginCandidate, LoginAttempt, error) {
	c, err := s.store.ReserveLoginAttempt(ctx, a)
	if err != nil {
		return c, a, err
	}
	a.Reserved = c.Reserved
	if err := held(a, c.BlockedUntil); err != nil {
		return c, a, err
	}
	if (a.Account == "" || a.Reserved.AccountFailures > 0) && (a.Address == "" || a.Reserved.AddressFailures > 0) {
		return c, a, nil
	}
	// A concurrent attempt, counted after this statement's snapshot, holds a
	// subject back that the snapshot found free: the attempt is refused as
	// a whole, so the part that was counted is given back.
	if err := s.store.ReleaseLoginAttempt(ctx, a, nil); err != nil {
		return c, a, err
	}
	until, err := s.store.ThrottledUntil(ctx, a)
	if err != nil {
		return c, a, err
	}
	if err := held(a, until); err != nil {
		return c, a, err
	}
	// The holder was given back meanwhile: nothing holds the subject now,
	// but this attempt raced it; the client may try again at once.
	return c, a, ErrBusy
}

// release gives back a's reservation when no password was checked (the
// hasher was saturated, the caller gave up). A release that fails leaves
// the attempt counted as a failure: the error that ended the check stands.
func (s *Service) release(ctx context.Context, a LoginAttempt) {
	_ = s.store.ReleaseLoginAttempt(context.WithoutCancel(ctx), a, nil)
}

// passwordFailed settles a failed password check, records it in the audit
// trail and answers INVALID_CREDENTIALS; a failure that cannot be recorded
// is an error (the count itself was made by the reservation).
func (s *Service) passwordFailed(ctx context.Context, a LoginAttempt, event AuditEventKind, userID, sessionID string) error {
	if err := s.store.RecordLoginFailure(ctx, a, auditEvent(ctx, a.Now, event, userID, sessionID, attemptDetail(a, nil))); err != nil {
		return err
	}
	return ErrInvalidCredentials
}

// attemptDetail is the audit detail of an attempt on a.Account, with more.
func attemptDetail(a LoginAttempt, more map[string]any) map[string]any {
	detail := map[string]any{}
	if a.Account != "" {
		detail["email"] = a.Account
	} else {
		// Never the identifier itself: people type passwords into the
		// email field.
		detail["identifier"] = "not an email"
	}
	for k, v := range more {
		detail[k] = v
	}
	return detail
}

// throttleAddress is the subject an IP address is counted under: an IPv4
// address as it is, an IPv6 address by its /64.
func throttleAddress(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return cleanText(ip, 64)
	}
	a = a.Unmap()
	if a.Is4() {
		return a.String()
	}
	p, err := a.Prefix(64)
	if err != nil {
		return a.String()
	}
	return p.String()
}
