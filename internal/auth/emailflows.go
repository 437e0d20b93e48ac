package auth

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"time"

	"golang.org/x/text/language"

	"authgate/internal/onetime"
	"authgate/internal/redirect"
)

// EmailVerification is the verification policy (AUTHGATE_EMAIL_VERIFICATION).
type EmailVerification string

// The verification policies.
const (
	// VerificationOff: sign-up sends no verification mail and nothing waits
	// for one (the flows still work for apps that ask for them).
	VerificationOff EmailVerification = "off"
	// VerificationOptional (the default): sign-up mails a verification link
	// when mail is delivered; unverified users sign in as usual.
	VerificationOptional EmailVerification = "optional"
	// VerificationRequired: sign-up creates the account, mails the link and
	// answers EMAIL_NOT_VERIFIED; an unverified user's correct password
	// answers EMAIL_NOT_VERIFIED too.
	VerificationRequired EmailVerification = "required"
)

// AMREmail is the authentication method of an emailed link or code.
const AMREmail = "email"

// Defaults of the emailed flows.
const (
	DefaultEmailTokenTTL  = time.Hour        // verify and reset links (AUTHGATE_EMAIL_TOKEN_TTL)
	DefaultEmailSignInTTL = 15 * time.Minute // sign-in links and codes (AUTHGATE_EMAIL_SIGNIN_TTL)
	// MailRequestWindow is the window of Config.EmailIPLimit.
	MailRequestWindow = time.Hour
	maxLocaleLength   = 35
)

// The events of the emailed flows.
const (
	EventEmailVerified AuditEventKind = "email_verified" // detail.method: link, reset, admin
	EventPasswordReset AuditEventKind = "password_reset" // by an emailed link: every session ended
)

// EmailRequest is one of the request mutations (sendVerificationEmail,
// requestPasswordReset, requestEmailSignIn): the address, where the link
// leads (nil: AUTHGATE_APP_URL), the reader's language (BCP 47, stored on
// the account), and for a sign-in the description of the session to come.
type EmailRequest struct {
	Email       string
	RedirectTo  *string
	Locale      *string
	Description *string
}

func (s *Service) verification() EmailVerification {
	if s.cfg.EmailVerification == "" {
		return VerificationOptional
	}
	return s.cfg.EmailVerification
}

func (s *Service) emailTokenTTL() time.Duration {
	return cmpOr(s.cfg.EmailTokenTTL, DefaultEmailTokenTTL)
}

func (s *Service) emailSignInTTL() time.Duration {
	return cmpOr(s.cfg.EmailSignInTTL, DefaultEmailSignInTTL)
}

func cmpOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// emailRequest is a request mutation's input, checked: everything is
// refused before the address is looked up, so no answer depends on it.
type emailRequest struct {
	email  string
	target *url.URL
	locale string
}

// checkEmailRequest checks r and counts it against the client address's
// limit. Errors: EMAIL_NOT_CONFIGURED, BAD_USER_INPUT, RATE_LIMITED.
func (s *Service) checkEmailRequest(ctx context.Context, r EmailRequest) (emailRequest, error) {
	if !s.MailConfigured() {
		return emailRequest{}, ErrEmailNotConfigured
	}
	email, err := NormalizeEmail(r.Email)
	if err != nil {
		return emailRequest{}, err
	}
	target, err := s.linkTarget(r.RedirectTo)
	if err != nil {
		return emailRequest{}, err
	}
	locale, err := checkLocale(r.Locale)
	if err != nil {
		return emailRequest{}, err
	}
	if err := checkDescription(r.Description); err != nil {
		return emailRequest{}, err
	}
	if err := s.reserveMailRequest(ctx); err != nil {
		return emailRequest{}, err
	}
	return emailRequest{email: email, target: target, locale: locale}, nil
}

// linkTarget is the page an emailed link opens: redirectTo when the
// allow-list admits it, else AUTHGATE_APP_URL. Errors: BAD_USER_INPUT.
func (s *Service) linkTarget(redirectTo *string) (*url.URL, error) {
	raw := ""
	if redirectTo != nil {
		raw = *redirectTo
	}
	u, err := s.cfg.Redirects.Resolve(raw)
	switch {
	case errors.Is(err, redirect.ErrNoDefault):
		return nil, badInput("redirectTo is required: no AUTHGATE_APP_URL is set")
	case err != nil:
		return nil, badInput("redirectTo is not an allowed redirect URL (AUTHGATE_REDIRECT_URLS)")
	}
	return u, nil
}

// checkLocale returns the canonical form of a BCP 47 tag ("" for none).
// Errors: BAD_USER_INPUT.
func checkLocale(locale *string) (string, error) {
	if locale == nil || *locale == "" {
		return "", nil
	}
	if len(*locale) > maxLocaleLength {
		return "", badInput("locale must be a BCP 47 language tag")
	}
	tag, err := language.Parse(*locale)
	if err != nil || len(tag.String()) > maxLocaleLength {
		return "", badInput("locale must be a BCP 47 language tag")
	}
	return tag.String(), nil
}

// reserveMailRequest counts a request mutation against the client
// address's hourly limit (Config.EmailIPLimit). Errors: RATE_LIMITED.
func (s *Service) reserveMailRequest(ctx context.Context) error {
	address := throttleAddress(ClientFrom(ctx).IP)
	if s.cfg.EmailIPLimit <= 0 || address == "" {
		return nil
	}
	a := SignupAttempt{Scope: "mail_address", Address: address, Now: s.clock.Now(), Limit: s.cfg.EmailIPLimit, Window: MailRequestWindow}
	until, err := s.store.ReserveSignup(ctx, a)
	if err != nil {
		return err
	}
	if !until.IsZero() {
		return &Error{Code: CodeRateLimited, Message: "too many mail requests from this address; try again later",
			RetryAfter: max(until.Sub(a.Now), time.Second)}
	}
	return nil
}

// mailRecipient finds the account a request mutation is for: exists is
// false for an unknown address; mayMail is true for an account that is
// neither disabled nor banned (the others get no mail).
func (s *Service) mailRecipient(ctx context.Context, email string) (u UserRecord, exists, mayMail bool, err error) {
	u, err = s.store.UserByEmail(ctx, email)
	if CodeOf(err) == CodeNotFound {
		return UserRecord{}, false, false, nil
	}
	if err != nil {
		return UserRecord{}, false, false, err
	}
	return u, true, !u.Disabled && !banned(u.User, s.clock.Now()), nil
}

// mailToken makes a token of purpose for r, with its mail, throttled per
// address. A throttled request is not an error here: the request mutations
// answer true whatever happened, so that nothing tells whether the address
// has an account. Without a token to make (found false), it counts the
// address's throttle alone, in the same one statement, so an unknown
// address costs what a known one does.
func (s *Service) mailToken(ctx context.Context, r emailRequest, purpose onetime.Purpose, u UserRecord, found bool, req OneTimeRequest) error {
	if !found {
		_, err := s.store.IssueOneTimeToken(ctx, NewOneTimeToken{
			Purpose: purpose, Now: s.clock.Now(), Throttle: &DefaultMailThrottle,
			ThrottleSubject: string(purpose) + ":" + r.email,
		})
		return err
	}
	locale := r.locale
	if locale == "" {
		locale = u.Locale
	}
	req.Purpose, req.Email, req.Throttle, req.Locale = purpose, r.email, &DefaultMailThrottle, r.locale
	req.Mail = func(t IssuedOneTimeToken) Mail {
		m := Mail{
			Template: MailTemplate(purpose), To: r.email, Locale: locale, UserID: u.ID,
			Link:      redirect.WithQuery(r.target, "type", string(purpose), "token", t.Token),
			Code:      t.Code,
			ExpiresIn: req.TTL,
		}
		return m
	}
	_, err := s.IssueOneTimeToken(ctx, req)
	if errors.Is(err, errMailThrottled) {
		return nil
	}
	return err
}

// SendVerificationEmail mails a verification link to the address when it
// belongs to an account whose address is not verified yet, and answers true
// whatever the address (unknown, verified, throttled), in the same time.
// Errors: EMAIL_NOT_CONFIGURED, BAD_USER_INPUT (address, redirectTo,
// locale), RATE_LIMITED (the client address's limit), UNAVAILABLE.
func (s *Service) SendVerificationEmail(ctx context.Context, r EmailRequest) (bool, error) {
	req, err := s.checkEmailRequest(ctx, r)
	if err != nil {
		return false, err
	}
	u, _, mayMail, err := s.mailRecipient(ctx, req.email)
	if err != nil {
		return false, err
	}
	found := mayMail && !u.EmailVerified
	if err := s.mailToken(ctx, req, onetime.Verify, u, found, OneTimeRequest{UserID: u.ID, TTL: s.emailTokenTTL()}); err != nil {
		return false, err
	}
	return true, nil
}

// VerifyEmail marks the address a verification link was sent to verified,
// if it is still the account's. It needs no bearer token (the link may be
// opened on another device). The first proof of the address removes the
// identities that did not prove it (see proveEmail); the password stays
// (the sign-up's owner is who clicks a verification link). Errors: INVALID_EMAIL_TOKEN (unknown, used,
// expired, another purpose's, or the account's address changed since),
// UNAVAILABLE.
func (s *Service) VerifyEmail(ctx context.Context, token string) (bool, error) {
	if s.cfg.OneTimeKeys == nil {
		return false, onetime.ErrNoKeys
	}
	if !onetime.WellFormed(token) {
		return false, ErrInvalidEmailToken
	}
	now := s.clock.Now()
	proof, err := s.store.VerifyEmailByToken(ctx, s.cfg.OneTimeKeys.TokenHashes(token), now,
		auditEvent(ctx, now, EventOneTimeTokenUsed, "", "", nil))
	if err != nil {
		return false, err
	}
	if !proof.Verified {
		return false, ErrInvalidEmailToken
	}
	s.provenCutOff(proof, now)
	return true, nil
}

// RequestPasswordReset mails a reset link to the address when it belongs
// to an account (not disabled or banned), and answers true whatever the
// address, in the same time. Errors: as SendVerificationEmail.
func (s *Service) RequestPasswordReset(ctx context.Context, r EmailRequest) (bool, error) {
	req, err := s.checkEmailRequest(ctx, r)
	if err != nil {
		return false, err
	}
	u, _, found, err := s.mailRecipient(ctx, req.email)
	if err != nil {
		return false, err
	}
	if err := s.mailToken(ctx, req, onetime.Reset, u, found, OneTimeRequest{UserID: u.ID, TTL: s.emailTokenTTL()}); err != nil {
		return false, err
	}
	return true, nil
}

// ResetPassword sets a new password with a reset link's token: it verifies
// the address (the link proved it), ends every session of the user, moves
// the user's cut-off, clears the account's login throttle and opens a fresh
// session, in one transaction with the token's use (a failure leaves the
// token usable). Errors: WEAK_PASSWORD, BAD_USER_INPUT (description),
// INVALID_EMAIL_TOKEN, USER_DISABLED, RATE_LIMITED (hashing saturated),
// UNAVAILABLE.
func (s *Service) ResetPassword(ctx context.Context, token, newPassword string, description *string) (*AuthPayload, error) {
	if s.cfg.OneTimeKeys == nil {
		return nil, onetime.ErrNoKeys
	}
	if err := checkNewPassword(newPassword); err != nil {
		return nil, err
	}
	if err := checkDescription(description); err != nil {
		return nil, err
	}
	// A token that cannot work costs no hashing.
	t, err := s.PeekOneTimeToken(ctx, onetime.Reset, token)
	if err != nil {
		return nil, err
	}
	hash, err := s.hashPassword(ctx, newPassword)
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	ns, err := s.newSession(ctx, t.UserID, description, now, assuranceOf([]string{AMREmail}))
	if err != nil {
		return nil, err
	}
	u, rec, ended, err := s.store.ResetPassword(ctx, PasswordReset{
		TokenHashes: s.cfg.OneTimeKeys.TokenHashes(token), NewHash: hash, Session: ns,
		Audit: auditEvent(ctx, now, EventOneTimeTokenUsed, "", "", nil),
	})
	if err != nil {
		return nil, err
	}
	s.revocations.CutOff(u.ID, now)
	s.revocations.SessionsEnded(now, ended...)
	return s.openedPayload(ctx, u.User, rec, ns, now)
}

// signInData is a sign-in token's payload: the description the request
// gave the session to come.
type signInData struct {
	Description *string `json:"description,omitempty"`
}

// RequestEmailSignIn mails a sign-in link and a 6-digit code to the
// address when it belongs to an account (not disabled or banned), or, when
// sign-up is on, to an address without one (the account is created,
// without a password, at the first sign-in); it answers true whatever the
// address, in the same time. Errors: as SendVerificationEmail.
func (s *Service) RequestEmailSignIn(ctx context.Context, r EmailRequest) (bool, error) {
	req, err := s.checkEmailRequest(ctx, r)
	if err != nil {
		return false, err
	}
	u, exists, found, err := s.mailRecipient(ctx, req.email)
	if err != nil {
		return false, err
	}
	data, err := json.Marshal(signInData{Description: r.Description})
	if err != nil {
		return false, err
	}
	if !exists && s.cfg.SignupEnabled {
		found = true // a sign-up link: the account is made at its first use
	}
	if err := s.mailToken(ctx, req, onetime.SignIn, u, found, OneTimeRequest{
		UserID: u.ID, TTL: s.emailSignInTTL(), Data: data, WithCode: true,
	}); err != nil {
		return false, err
	}
	return true, nil
}

// SignInWithEmailToken signs in with a sign-in link's token; the address
// is verified by it. Errors: INVALID_EMAIL_TOKEN, USER_DISABLED, FORBIDDEN
// (a first sign-in while sign-up is off), BAD_USER_INPUT, UNAVAILABLE.
func (s *Service) SignInWithEmailToken(ctx context.Context, token string, description *string) (*AuthPayload, error) {
	if err := checkDescription(description); err != nil {
		return nil, err
	}
	t, err := s.ConsumeOneTimeToken(ctx, onetime.SignIn, token)
	if err != nil {
		return nil, err
	}
	return s.emailSignIn(ctx, t, "email_link", description)
}

// SignInWithEmailCode signs in with the 6-digit code of a sign-in mail.
// Every code tried counts; after 5 the code is dead (the link still works
// until it expires, unless the code was used). Errors: as
// SignInWithEmailToken.
func (s *Service) SignInWithEmailCode(ctx context.Context, email, code string, description *string) (*AuthPayload, error) {
	if err := checkDescription(description); err != nil {
		return nil, err
	}
	t, err := s.ConsumeOneTimeCode(ctx, onetime.SignIn, email, code)
	if err != nil {
		return nil, err
	}
	return s.emailSignIn(ctx, t, "email_code", description)
}

// emailSignIn opens the session of a used sign-in token: the account's, if
// the address still is its own, or a new passwordless account's.
func (s *Service) emailSignIn(ctx context.Context, t OneTimeToken, method string, description *string) (*AuthPayload, error) {
	if description == nil {
		var d signInData
		if json.Unmarshal(t.Data, &d) == nil {
			description = d.Description
		}
	}
	v := VerifiedSignIn{Method: method, AMR: []string{AMREmail}, VerifyEmail: t.Email}
	if t.UserID != "" {
		u, err := s.store.UserByID(ctx, t.UserID)
		if CodeOf(err) == CodeNotFound || (err == nil && u.Email != t.Email) {
			return nil, ErrInvalidEmailToken
		}
		if err != nil {
			return nil, err
		}
		return s.provenSignIn(ctx, u.ID, t.Email, v, description)
	}
	// A first sign-in: the account is made now, unless one was made since.
	u, err := s.store.UserByEmail(ctx, t.Email)
	if err == nil {
		return s.provenSignIn(ctx, u.ID, t.Email, v, description)
	}
	if CodeOf(err) != CodeNotFound {
		return nil, err
	}
	if !s.cfg.SignupEnabled {
		return nil, ErrSignupDisabled
	}
	now := s.clock.Now()
	ns, err := s.newSession(ctx, "", description, now, assuranceOf([]string{AMREmail}))
	if err != nil {
		return nil, err
	}
	created, rec, err := s.store.CreateUserWithSession(ctx, NewUser{
		Email: t.Email, DefaultRole: s.cfg.SignupRole, AllowedRoles: []string{s.cfg.SignupRole}, Now: now,
		EmailVerified: true, Detail: v.AuditDetail(),
	}, &ns)
	if errors.Is(err, ErrEmailTaken) {
		// Made by a racing sign-up meanwhile: sign in to it.
		if u, err = s.store.UserByEmail(ctx, t.Email); err != nil {
			return nil, err
		}
		return s.provenSignIn(ctx, u.ID, t.Email, v, description)
	}
	if err != nil {
		return nil, err
	}
	return s.openedPayload(ctx, created.User, rec, ns, now)
}

// provenSignIn signs in the user of an emailed link or code, after the
// proof of its address: the first proof marks it verified and, in the
// same statement, removes what was attached to the account before anyone
// proved it: the identities whose provider did not vouch for this address
// (someone signed in with a provider that does not verify addresses,
// asserting the owner's) and the password (someone registered the
// owner's address first); the sessions opened before then end. The
// account is the owner's from here on.
func (s *Service) provenSignIn(ctx context.Context, userID, email string, v VerifiedSignIn, description *string) (*AuthPayload, error) {
	now := s.clock.Now()
	proof, err := s.store.ProveEmail(ctx, userID, email, now, v.Method)
	if err != nil {
		return nil, err
	}
	s.provenCutOff(proof, now)
	return s.signInVerified(ctx, userID, v, description)
}

// provenCutOff tells this instance's revocation list about a proof's
// cut-off (other instances hear of it from the database).
func (s *Service) provenCutOff(p AddressProof, now time.Time) {
	if p.CutOff {
		s.revocations.CutOff(p.UserID, now)
		s.revocations.SessionsEnded(now, p.SessionsEnded...)
	}
}

// MarkEmailVerified marks the address of the user with this email verified
// (the CLI's `user verify`). Errors: BAD_USER_INPUT, NOT_FOUND, UNAVAILABLE.
func (s *Service) MarkEmailVerified(ctx context.Context, email string) (*User, error) {
	email, err := NormalizeEmail(email)
	if err != nil {
		return nil, err
	}
	u, err := s.store.MarkEmailVerified(ctx, email, s.clock.Now())
	if err != nil {
		return nil, noUserWith(email, err)
	}
	return &u.User, nil
}
