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
type ThrottleStore interface {
	// LoginCheck finds the user whose email is a.Account (Found is false when
	// there is none, or a.Account is empty) and reports until when the
	// throttle holds a's subjects back.
	LoginCheck(ctx context.Context, a LoginAttempt) (LoginCandidate, error)
	// ThrottledUntil reports until when the throttle holds a's subjects back
	// (zero, or not after a.Now, when it does not).
	ThrottledUntil(ctx context.Context, a LoginAttempt) (time.Time, error)
	// RecordLoginFailure counts one failed password check against each of
	// a's subjects and records e in the audit trail, with a lockout event
	// for each subject the failure starts holding back.
	RecordLoginFailure(ctx context.Context, a LoginAttempt, e AuditEvent) error
}

// LoginAttempt is one password check as the throttle sees it.
type LoginAttempt struct {
	// Account is the normalised email; empty when the identifier is none.
	Account string
	// Address is the client address; empty when unknown.
	Address string
	Now     time.Time
	Policy  ThrottleConfig
}

// LoginCandidate is what LoginCheck found.
type LoginCandidate struct {
	User  UserRecord
	Found bool
	// BlockedUntil is when the throttle lets the attempt through; zero when
	// it does now.
	BlockedUntil time.Time
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

// passwordFailed counts a failed password check, records it in the audit
// trail and answers INVALID_CREDENTIALS; a failure that cannot be counted
// is an error (the check fails closed).
func (s *Service) passwordFailed(ctx context.Context, a LoginAttempt, event AuditEventKind, userID, sessionID string) error {
	detail := map[string]any{}
	if a.Account != "" {
		detail["email"] = a.Account
	} else {
		// Never the identifier itself: people type passwords into the
		// email field.
		detail["identifier"] = "not an email"
	}
	if err := s.store.RecordLoginFailure(ctx, a, auditEvent(ctx, a.Now, event, userID, sessionID, detail)); err != nil {
		return err
	}
	return ErrInvalidCredentials
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
