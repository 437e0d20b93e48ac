package auth

import (
	"context"
	"encoding/json"
	"time"

	"authgate/internal/onetime"
	"authgate/internal/redirect"
)

// EventEmailChangeRequested records a changeEmail: detail.from, detail.to,
// detail.mailed (false when the per-address throttle held it back or the
// new address has an account: no confirmation was sent) and detail.taken.
// The switch itself is EventEmailChanged with detail.method "link".
const EventEmailChangeRequested AuditEventKind = "email_change_requested"

// DefaultEmailChangeTTL is how long a confirmation link of changeEmail lives.
const DefaultEmailChangeTTL = time.Hour

// EmailChangeRequest is a changeEmail: the address to change to, the page
// the confirmation link opens (nil: AUTHGATE_APP_URL) and the reader's
// language (BCP 47; nil: the user's own).
type EmailChangeRequest struct {
	NewEmail   string
	RedirectTo *string
	Locale     *string
}

// EmailChange is what the store needs to ask for an address change: the
// token (with the confirmation mail to the new address, and the throttle),
// the notice to the old address, and the request's audit row. Token.TokenHash
// is nil when no confirmation is to be sent (the new address has an
// account): the throttle is counted alone, at the same cost, and no mail
// goes out.
type EmailChange struct {
	Token  NewOneTimeToken
	Notice *OutboxMail
	Audit  AuditEvent
}

// EmailChangeStore is the part of Store behind changeEmail and
// confirmEmailChange.
type EmailChangeStore interface {
	// RequestEmailChange counts c.Token's throttle and, when it lets the
	// request through, stores the token (replacing the user's older
	// email_change token), writes its mail and c.Notice; it records c.Audit
	// (detail.mailed added) either way, in one transaction. False when the
	// throttle held it back.
	RequestEmailChange(ctx context.Context, c EmailChange) (bool, error)
	// ConfirmEmailChange uses the live email_change token whose hash is one
	// of hashes and, in the same statement, moves its user to the token's
	// address (verified at now) if the user still has the address the
	// change was asked from and is not disabled; it records the token's use
	// and the change (e's client). False when there is no such token or the
	// user no longer matches (the token is used up then); ErrEmailTaken
	// when the new address belongs to another account by now, which changes
	// nothing (the token stays usable).
	ConfirmEmailChange(ctx context.Context, hashes [][]byte, now time.Time, e AuditEvent) (bool, error)
}

// emailChangeData is an email_change token's payload: the address the
// change was asked from, which must still be the user's at confirmation.
type emailChangeData struct {
	From string `json:"from"`
}

// ChangeEmail asks to move the caller's account to r.NewEmail: it mails a
// confirmation link to the new address and a notice to the old one; only
// confirming (ConfirmEmailChange) switches the address. A newer request
// replaces the older one's link. It answers true when the new address
// already has an account (no mail is sent: the answer tells nobody which
// addresses have accounts) and when the per-address throttle (1 a minute,
// 10 a day) holds the request back. The caller's sessions are untouched.
// Errors: UNAUTHENTICATED, EMAIL_NOT_CONFIGURED, BAD_USER_INPUT (address,
// redirectTo, locale; the caller's own address), USER_DISABLED, RATE_LIMITED
// (the client address's hourly mail requests, Config.EmailIPLimit), UNAVAILABLE.
func (s *Service) ChangeEmail(ctx context.Context, r EmailChangeRequest) (bool, error) {
	p, err := PrincipalFrom(ctx)
	if err != nil {
		return false, err
	}
	if s.cfg.OneTimeKeys == nil {
		return false, onetime.ErrNoKeys
	}
	if !s.MailConfigured() {
		return false, ErrEmailNotConfigured
	}
	newEmail, err := NormalizeEmail(r.NewEmail)
	if err != nil {
		return false, err
	}
	target, err := s.linkTarget(r.RedirectTo)
	if err != nil {
		return false, err
	}
	locale, err := checkLocale(r.Locale)
	if err != nil {
		return false, err
	}
	u, err := s.store.UserByID(ctx, p.UserID)
	if err != nil {
		return false, authError(err)
	}
	if u.Disabled {
		return false, ErrUserDisabled
	}
	if u.Email == newEmail {
		return false, badInput("newEmail is already the account's address")
	}
	// Counted like the other mail requests, once the input is known good: a
	// stolen session must not make authgate a mail cannon either.
	if err := s.reserveMailRequest(ctx); err != nil {
		return false, err
	}
	taken := false
	switch _, err := s.store.UserByEmail(ctx, newEmail); {
	case err == nil:
		taken = true
	case CodeOf(err) != CodeNotFound:
		return false, err
	}
	now := s.clock.Now()
	ttl := DefaultEmailChangeTTL
	c := EmailChange{
		Token: NewOneTimeToken{
			Purpose: onetime.EmailChange, UserID: u.ID, Email: newEmail, Subject: u.ID,
			Now: now, ExpiresAt: now.Add(ttl), Throttle: &DefaultMailThrottle,
			ThrottleSubject: string(onetime.EmailChange) + ":" + newEmail,
		},
		Audit: auditEvent(ctx, now, EventEmailChangeRequested, u.ID, p.SessionID,
			map[string]any{"from": u.Email, "to": newEmail, "taken": taken}),
	}
	if !taken {
		tok, err := onetime.NewToken(s.random)
		if err != nil {
			return false, err
		}
		data, err := json.Marshal(emailChangeData{From: u.Email})
		if err != nil {
			return false, err
		}
		c.Token.TokenHash, c.Token.Data = s.cfg.OneTimeKeys.TokenHash(tok), data
		confirm, err := s.sealMail(Mail{
			Template: MailEmailChange, To: newEmail, Locale: locale, UserID: u.ID,
			Link:     redirect.WithQuery(target, "type", string(onetime.EmailChange), "token", tok),
			NewEmail: newEmail, ExpiresIn: ttl,
		})
		if err != nil {
			return false, err
		}
		notice, err := s.sealMail(Mail{Template: MailEmailChangeNotice, To: u.Email, Locale: locale, UserID: u.ID, NewEmail: newEmail})
		if err != nil {
			return false, err
		}
		c.Token.Mail, c.Notice = &confirm, &notice
	}
	// A throttled request answers true like any other: the caller learns
	// nothing about the address from it, and the older link stays valid.
	if _, err := s.store.RequestEmailChange(ctx, c); err != nil {
		return false, err
	}
	return true, nil
}

// ConfirmEmailChange switches an account to the address a changeEmail
// link was sent to, and marks it verified (the link proved it). It needs no
// bearer token: the link may be opened on another device. Sessions go on;
// access tokens carry no address. Errors: INVALID_EMAIL_TOKEN (unknown,
// used, expired, another purpose's, replaced by a newer request, or the
// account's address or state changed since the request), EMAIL_TAKEN (the
// new address got an account meanwhile: nothing changes), UNAVAILABLE.
func (s *Service) ConfirmEmailChange(ctx context.Context, token string) (bool, error) {
	if s.cfg.OneTimeKeys == nil {
		return false, onetime.ErrNoKeys
	}
	if !onetime.WellFormed(token) {
		return false, ErrInvalidEmailToken
	}
	now := s.clock.Now()
	ok, err := s.store.ConfirmEmailChange(ctx, s.cfg.OneTimeKeys.TokenHashes(token), now,
		auditEvent(ctx, now, EventEmailChanged, "", "", nil))
	if err != nil {
		return false, err
	}
	if !ok {
		return false, ErrInvalidEmailToken
	}
	return true, nil
}
