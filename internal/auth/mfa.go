package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"authgate/internal/mfa"
	"authgate/internal/onetime"
)

// The authentication methods a session records (RFC 8176 names where one
// fits): the amr claim of its access tokens.
const (
	AMRPassword     = "pwd" // a password
	AMRTOTP         = "otp" // a TOTP code
	AMRRecoveryCode = "rec" // a recovery code, standing in for the TOTP
	AMRPasskey      = "hwk" // a passkey (a key held by an authenticator), with user verification
)

// The second factors MFA_REQUIRED offers (extensions.methods).
const (
	MethodTOTP         = "totp"
	MethodRecoveryCode = "recovery_code"
)

// MFAPendingRole is the only role of a one-factor token whose user holds
// nothing but roles that need two (AUTHGATE_MFA_REQUIRED_ROLES): it lets
// the user reach authgate to add or use a second factor, and nothing in
// Hasura, whose permissions never name it.
const MFAPendingRole = "mfa_pending"

// Assurance is how a sign-in was proven: its methods and its level, 1 for
// one factor, 2 for two (or a passkey with user verification).
type Assurance struct {
	AMR   []string
	Level int
}

// passwordOnly is a password sign-in's assurance.
var passwordOnly = Assurance{AMR: []string{AMRPassword}, Level: 1}

// assuranceOf is the assurance of a sign-in that used amr: level 2 for two
// methods or more, or a passkey (always with user verification); else 1.
func assuranceOf(amr []string) Assurance {
	level := 1
	if len(amr) >= 2 || slices.Contains(amr, AMRPasskey) {
		level = 2
	}
	return Assurance{AMR: slices.Clone(amr), Level: level}
}

// normalized gives an unknown assurance (a session from before levels, a
// zero value) level 1: nothing more is known of it.
func (a Assurance) normalized() Assurance {
	if a.Level < 1 || a.Level > 2 {
		a.Level = 1
	}
	if a.AMR == nil {
		a.AMR = []string{}
	}
	return a
}

// MFAConfig is the second-factor setup.
type MFAConfig struct {
	// Keys seal TOTP secrets and hash recovery codes
	// (AUTHGATE_MFA_ENCRYPTION_KEY); nil: TOTP is off.
	Keys *mfa.Keys
	// Passkeys is the WebAuthn relying party (AUTHGATE_WEBAUTHN_RP_ID,
	// AUTHGATE_WEBAUTHN_ORIGINS); nil: passkeys are off.
	Passkeys *mfa.Passkeys
	// Issuer names the service in authenticator apps (AUTHGATE_APP_NAME).
	Issuer string
	// RequiredRoles may appear only in level-2 tokens
	// (AUTHGATE_MFA_REQUIRED_ROLES).
	RequiredRoles []string
}

// Lifetimes of the MFA one-time secrets.
const (
	// MFATicketTTL is how long a first factor waits for the second.
	MFATicketTTL = 5 * time.Minute
	// CeremonyTTL is how long a WebAuthn ceremony waits for its finish.
	CeremonyTTL = 5 * time.Minute
)

var (
	errTOTPOff        = newError(CodeForbidden, "TOTP is not configured on this server (AUTHGATE_MFA_ENCRYPTION_KEY)")
	errTOTPAlreadyOn  = newError(CodeForbidden, "TOTP is already on; turn it off first")
	errNoEnrollment   = newError(CodeBadUserInput, "no TOTP enrolment is waiting; call enrollTotp first")
	errTOTPNotOn      = newError(CodeBadUserInput, "TOTP is not on")
	errLevel2Required = newError(CodeForbidden, "this account already has a second factor: changing its factors needs a session signed in with two (x-hasura-auth-level 2)")
	errInvalidMFACode = &Error{Code: CodeInvalidMFACode, Message: "the code is wrong, already used or expired", Reason: "code"}
)

// rolesAt returns the default role and the allowed roles of u's tokens at
// level: below 2, without the roles that need two factors. A default role
// that needs them gives way to the first remaining role, and a user left
// with none gets MFAPendingRole alone.
func (s *Service) rolesAt(u User, level int) (string, []string) {
	required := s.cfg.MFA.RequiredRoles
	if level >= 2 || len(required) == 0 {
		return u.DefaultRole, u.AllowedRoles
	}
	roles := make([]string, 0, len(u.AllowedRoles))
	for _, r := range u.AllowedRoles {
		if !slices.Contains(required, r) {
			roles = append(roles, r)
		}
	}
	def := u.DefaultRole
	if slices.Contains(required, def) || !slices.Contains(roles, def) {
		if len(roles) == 0 {
			return MFAPendingRole, []string{MFAPendingRole}
		}
		def = roles[0]
	}
	return def, roles
}

// withoutReserved drops custom claims authgate writes itself from what a
// user's stored claims hold (claims set before a name became authgate's).
func withoutReserved(c Claims) Claims {
	if _, ok := c["x-hasura-auth-level"]; !ok {
		return c
	}
	out := make(Claims, len(c))
	for k, v := range c {
		if k != "x-hasura-auth-level" {
			out[k] = v
		}
	}
	return out
}

// sessionAssurance is the assurance of the caller's session (passwordOnly
// when it cannot be read): a password change's fresh session keeps it.
func (s *Service) sessionAssurance(ctx context.Context, p Principal) Assurance {
	a, err := s.store.SessionAssurance(ctx, p.UserID, p.SessionID)
	if err != nil || a.Level == 0 {
		return passwordOnly
	}
	return a
}

// mfaCaller reads the caller's MFA state. A caller whose account already
// has a second factor (TOTP on, or a passkey) may change its factors only
// from a level-2 session when needLevel2 is set. Errors: UNAUTHENTICATED,
// FORBIDDEN, UNAVAILABLE.
func (s *Service) mfaCaller(ctx context.Context, needLevel2 bool) (Principal, MFAState, error) {
	p, err := PrincipalFrom(ctx)
	if err != nil {
		return p, MFAState{}, err
	}
	st, err := s.store.MFAState(ctx, p.UserID, p.SessionID, s.clock.Now())
	if err != nil {
		return p, st, authError(err)
	}
	if needLevel2 && (st.TOTPEnabled || st.Passkeys > 0) && st.SessionLevel < 2 {
		return p, st, errLevel2Required
	}
	return p, st, nil
}

// TOTPEnrollment is a TOTP secret waiting for its first code.
type TOTPEnrollment struct {
	Secret     string `json:"secret"`
	OtpauthURL string `json:"otpauthUrl"`
	// QRCodePNG is the QR code of OtpauthURL: base64 PNG data.
	QRCodePNG string `json:"qrCodePng"`
}

// EnrollTOTP makes a new TOTP secret for the caller, waiting for its first
// code (ConfirmTOTP); a second call replaces a waiting one. An account
// that already has a passkey needs a level-2 session.
// Errors: UNAUTHENTICATED, FORBIDDEN (TOTP not configured, already on, or
// a level-2 session needed), UNAVAILABLE.
func (s *Service) EnrollTOTP(ctx context.Context) (*TOTPEnrollment, error) {
	keys := s.cfg.MFA.Keys
	if keys == nil {
		return nil, errTOTPOff
	}
	p, st, err := s.mfaCaller(ctx, true)
	if err != nil {
		return nil, err
	}
	if st.TOTPEnabled {
		return nil, errTOTPAlreadyOn
	}
	issuer := s.cfg.MFA.Issuer
	if issuer == "" {
		issuer = "authgate"
	}
	e, err := mfa.NewTOTP(s.random, issuer, st.Email)
	if err != nil {
		return nil, err
	}
	saved, err := s.store.SaveTOTPEnrollment(ctx, p.UserID, keys.SealTOTPSecret(p.UserID, e.Secret), s.clock.Now())
	if err != nil {
		return nil, err
	}
	if !saved {
		return nil, errTOTPAlreadyOn
	}
	return &TOTPEnrollment{Secret: e.Secret, OtpauthURL: e.URL, QRCodePNG: e.QRCodeBase64()}, nil
}

// ConfirmTOTP turns the caller's waiting TOTP on with its first code and
// returns a fresh set of recovery codes, shown this once. Wrong codes count
// in the login throttle. Errors: UNAUTHENTICATED, FORBIDDEN (TOTP not
// configured, a level-2 session needed), BAD_USER_INPUT (nothing waits),
// INVALID_MFA_CODE, RATE_LIMITED, UNAVAILABLE.
func (s *Service) ConfirmTOTP(ctx context.Context, code string) ([]string, error) {
	keys := s.cfg.MFA.Keys
	if keys == nil {
		return nil, errTOTPOff
	}
	p, st, err := s.mfaCaller(ctx, true)
	if err != nil {
		return nil, err
	}
	if st.TOTPEnabled {
		return nil, errTOTPAlreadyOn
	}
	if st.TOTPSealed == nil {
		return nil, errNoEnrollment
	}
	secret, err := keys.OpenTOTPSecret(p.UserID, st.TOTPSealed)
	if err != nil {
		return nil, err
	}
	return withCodeThrottle(ctx, s, st.Email, p, func(now time.Time) ([]string, bool, error) {
		step, ok, err := mfa.MatchTOTP(secret, code, now)
		if err != nil && !errors.Is(err, mfa.ErrMalformedCode) {
			return nil, false, err
		}
		if !ok {
			return nil, false, nil
		}
		codes, hashes, err := s.newRecoveryCodes(p.UserID)
		if err != nil {
			return nil, false, err
		}
		confirmed, err := s.store.ConfirmTOTP(ctx, p.UserID, st.TOTPSealed, step, hashes, now)
		return codes, confirmed, err
	})
}

// DisableTOTP turns the caller's TOTP off with a current TOTP code or a
// recovery code, deletes its recovery codes and ends every other session
// of the user; the caller's own session lives on. It works from any
// session of the user: the code is the proof. Errors: UNAUTHENTICATED,
// FORBIDDEN (not configured), BAD_USER_INPUT (TOTP is not on),
// INVALID_MFA_CODE, RATE_LIMITED, UNAVAILABLE.
func (s *Service) DisableTOTP(ctx context.Context, code string) (bool, error) {
	keys := s.cfg.MFA.Keys
	if keys == nil {
		return false, errTOTPOff
	}
	p, st, err := s.mfaCaller(ctx, false)
	if err != nil {
		return false, err
	}
	if !st.TOTPEnabled {
		return false, errTOTPNotOn
	}
	_, err = withCodeThrottle(ctx, s, st.Email, p, func(now time.Time) (bool, bool, error) {
		proof, ok, err := s.secondFactorProof(p.UserID, st, code, now)
		if err != nil || !ok {
			return false, false, err
		}
		ended, ok, err := s.store.DisableTOTP(ctx, p.UserID, p.SessionID, proof, now)
		if ok {
			s.revocations.SessionsEnded(now, ended...)
		}
		return ok, ok, err
	})
	return err == nil, err
}

// RegenerateRecoveryCodes replaces the caller's recovery codes with a fresh
// set, shown this once, given a current TOTP code or a recovery code (the
// code is the second factor: any session of the user may ask).
// Errors: UNAUTHENTICATED, FORBIDDEN (not configured), BAD_USER_INPUT
// (TOTP is not on), INVALID_MFA_CODE, RATE_LIMITED, UNAVAILABLE.
func (s *Service) RegenerateRecoveryCodes(ctx context.Context, code string) ([]string, error) {
	keys := s.cfg.MFA.Keys
	if keys == nil {
		return nil, errTOTPOff
	}
	p, st, err := s.mfaCaller(ctx, false)
	if err != nil {
		return nil, err
	}
	if !st.TOTPEnabled {
		return nil, errTOTPNotOn
	}
	return withCodeThrottle(ctx, s, st.Email, p, func(now time.Time) ([]string, bool, error) {
		proof, ok, err := s.secondFactorProof(p.UserID, st, code, now)
		if err != nil || !ok {
			return nil, false, err
		}
		codes, hashes, err := s.newRecoveryCodes(p.UserID)
		if err != nil {
			return nil, false, err
		}
		ok, err = s.store.ReplaceRecoveryCodes(ctx, p.UserID, proof, hashes, now)
		return codes, ok, err
	})
}

// UserFactors returns whether userID's TOTP is on and its passkeys.
// Errors: UNAVAILABLE.
func (s *Service) UserFactors(ctx context.Context, userID string) (bool, []*Passkey, error) {
	on, passkeys, err := s.store.UserFactors(ctx, userID)
	if passkeys == nil {
		passkeys = []*Passkey{}
	}
	return on, passkeys, err
}

// secondFactorProof reads code as a TOTP code (6 digits) or a recovery code
// of userID; ok is false when it is neither, or a TOTP code of no step
// around now.
func (s *Service) secondFactorProof(userID string, st MFAState, code string, now time.Time) (SecondFactorProof, bool, error) {
	if mfa.NormalizeTOTPCode(code) != "" {
		secret, err := s.cfg.MFA.Keys.OpenTOTPSecret(userID, st.TOTPSealed)
		if err != nil {
			return SecondFactorProof{}, false, err
		}
		step, ok, err := mfa.MatchTOTP(secret, code, now)
		return SecondFactorProof{TOTPStep: step}, ok, err
	}
	return s.recoveryProof(userID, code)
}

// recoveryProof reads code as a recovery code of userID.
func (s *Service) recoveryProof(userID, code string) (SecondFactorProof, bool, error) {
	normalized, ok := mfa.NormalizeRecoveryCode(code)
	if !ok {
		return SecondFactorProof{}, false, nil
	}
	return SecondFactorProof{RecoveryHashes: s.cfg.MFA.Keys.RecoveryCodeHashes(userID, normalized)}, true, nil
}

// newRecoveryCodes draws a set of recovery codes and their stored hashes.
func (s *Service) newRecoveryCodes(userID string) ([]string, [][]byte, error) {
	codes, err := mfa.NewRecoveryCodes(s.random)
	if err != nil {
		return nil, nil, err
	}
	hashes := make([][]byte, len(codes))
	for i, c := range codes {
		n, _ := mfa.NormalizeRecoveryCode(c)
		hashes[i] = s.cfg.MFA.Keys.RecoveryCodeHash(userID, n)
	}
	return codes, hashes, nil
}

// withCodeThrottle runs check, a second-factor check by the signed-in
// caller p, under the login throttle of the account email and the client's
// address: reserved before, a failure (check's ok false) recorded as
// mfa_failed and answered INVALID_MFA_CODE, a success given back.
func withCodeThrottle[T any](ctx context.Context, s *Service, email string, p Principal, check func(now time.Time) (T, bool, error)) (T, error) {
	var zero T
	_, a, err := s.reserve(ctx, s.attempt(ctx, email))
	if err != nil {
		return zero, err
	}
	out, ok, err := check(a.Now)
	if err != nil {
		s.release(ctx, a)
		return zero, err
	}
	if !ok {
		e := auditEvent(ctx, a.Now, EventMFAFailed, p.UserID, p.SessionID, attemptDetail(a, nil))
		if err := s.store.RecordLoginFailure(ctx, a, e); err != nil {
			return zero, err
		}
		return zero, errInvalidMFACode
	}
	s.release(ctx, a)
	return out, nil
}

// mfaTicketData is what an MFA ticket remembers of the first step.
type mfaTicketData struct {
	AMR      []string `json:"amr"`
	Method   string   `json:"method,omitempty"`
	Provider string   `json:"provider,omitempty"`
	// VerifyEmail is the address an emailed first step proved.
	VerifyEmail string `json:"verify_email,omitempty"`
	// Password is a fingerprint of the password hash a password first step
	// was checked against: a password change meanwhile kills the ticket.
	Password string `json:"pwd,omitempty"`
}

// errMFATicket answers an MFA ticket that is unknown, used, expired, or no
// longer holds (its user changed since): only a new sign-in helps.
var errMFATicket = &Error{Code: CodeInvalidMFACode, Message: "the MFA ticket is invalid, used or expired; sign in again", Reason: "ticket"}

// passwordFingerprint names a password hash without holding it.
func passwordFingerprint(hash string) string {
	if hash == "" {
		return ""
	}
	h := sha256.Sum256([]byte("authgate mfa ticket\x00" + hash))
	return hex.EncodeToString(h[:16])
}

// secondFactorDue answers MFA_REQUIRED, with a ticket for completeMfa,
// when u has TOTP on and v proved one factor only (a password, an emailed
// link or code, a provider); a sign-in of level 2 (a passkey, a completed
// second factor) passes. A throttle reservation v holds is settled as a
// correct first factor. Errors: MFA_REQUIRED, UNAVAILABLE.
func (s *Service) secondFactorDue(ctx context.Context, u UserRecord, v VerifiedSignIn) error {
	if assuranceOf(v.AMR).Level >= 2 {
		return nil
	}
	if !u.TOTPEnabled {
		return nil
	}
	if s.cfg.MFA.Keys == nil {
		// Fail closed: without the key no code can be checked, and the
		// first factor alone must not do.
		return fmt.Errorf("user %s has TOTP on but AUTHGATE_MFA_ENCRYPTION_KEY is not set", u.ID)
	}
	data, err := json.Marshal(mfaTicketData{AMR: v.AMR, Method: v.Method, Provider: v.Provider,
		VerifyEmail: v.VerifyEmail, Password: passwordFingerprint(v.PasswordHash)})
	if err != nil {
		return err
	}
	issued, err := s.IssueOneTimeToken(ctx, OneTimeRequest{Purpose: onetime.MFATicket, UserID: u.ID, Email: u.Email,
		TTL: MFATicketTTL, Data: data})
	if err != nil {
		if v.Attempt != nil {
			s.release(ctx, *v.Attempt)
		}
		return err
	}
	if v.Attempt != nil {
		// The first factor was right: its reservation is given back; the
		// second factor's codes are throttled on their own.
		if err := s.store.ReleaseLoginAttempt(ctx, *v.Attempt, nil); err != nil {
			return err
		}
	}
	return &Error{Code: CodeMFARequired, Message: "a second factor is required: finish the sign-in with completeMfa",
		Ticket: issued.Token, Methods: []string{MethodTOTP, MethodRecoveryCode}}
}

// MFATicketOutcome is what UseMFATicket found.
type MFATicketOutcome string

// The outcomes of UseMFATicket.
const (
	MFATicketUsed  MFATicketOutcome = "used"   // the proof and the ticket are both used up
	MFACodeRefused MFATicketOutcome = "code"   // the proof does not hold: nothing changed
	MFATicketDead  MFATicketOutcome = "ticket" // the ticket is gone (used, expired, cut off): nothing changed
)

// CompleteMFA finishes a sign-in that answered MFA_REQUIRED: the ticket
// with a current TOTP code or a recovery code (one of them). The code and
// the ticket are used up together or not at all: a wrong, replayed or
// used-up code leaves the ticket for another try, and of racing uses of
// one ticket one wins. Wrong codes count in the login throttle. The
// session is level 2 (amr: the first step's and "otp" or "rec").
// Errors: INVALID_MFA_CODE (reason "code": try another code; "ticket":
// sign in again), BAD_USER_INPUT, RATE_LIMITED, USER_DISABLED,
// INVALID_CREDENTIALS (the user vanished or was cut off meanwhile),
// UNAVAILABLE.
func (s *Service) CompleteMFA(ctx context.Context, ticket string, code, recoveryCode, description *string) (*AuthPayload, error) {
	if err := checkDescription(description); err != nil {
		return nil, err
	}
	byCode, byRecovery := code != nil && *code != "", recoveryCode != nil && *recoveryCode != ""
	if byCode == byRecovery {
		return nil, badInput("give either code (a TOTP code) or recoveryCode")
	}
	if s.cfg.MFA.Keys == nil {
		return nil, errTOTPOff
	}
	t, err := s.PeekOneTimeToken(ctx, onetime.MFATicket, ticket)
	if err != nil {
		return nil, err
	}
	var data mfaTicketData
	if err := json.Unmarshal(t.Data, &data); err != nil {
		return nil, fmt.Errorf("reading an MFA ticket: %w", err)
	}
	now := s.clock.Now()
	st, err := s.store.MFAState(ctx, t.UserID, "", now)
	if CodeOf(err) == CodeNotFound {
		return nil, errMFATicket
	}
	if err != nil {
		return nil, err
	}
	if !st.TOTPEnabled {
		return nil, errMFATicket // turned off since: the first step alone would do now
	}
	var passwordHash string
	if data.Password != "" {
		u, err := s.store.UserByID(ctx, t.UserID)
		if err != nil {
			return nil, oneTimeError(onetime.MFATicket, err)
		}
		if passwordFingerprint(u.PasswordHash) != data.Password {
			return nil, errMFATicket // the password changed since the first step
		}
		passwordHash = u.PasswordHash
	}
	_, a, err := s.reserve(ctx, s.attempt(ctx, st.Email))
	if err != nil {
		return nil, err
	}
	var (
		proof SecondFactorProof
		ok    bool
		amr   = slices.Clone(data.AMR)
	)
	if byCode {
		secret, err := s.cfg.MFA.Keys.OpenTOTPSecret(t.UserID, st.TOTPSealed)
		if err != nil {
			s.release(ctx, a)
			return nil, err
		}
		var step int64
		step, ok, err = mfa.MatchTOTP(secret, *code, a.Now)
		if err != nil && !errors.Is(err, mfa.ErrMalformedCode) {
			s.release(ctx, a)
			return nil, err
		}
		proof, amr = SecondFactorProof{TOTPStep: step}, append(amr, AMRTOTP)
	} else {
		proof, ok, _ = s.recoveryProof(t.UserID, *recoveryCode)
		amr = append(amr, AMRRecoveryCode)
	}
	outcome := MFACodeRefused
	if ok {
		outcome, err = s.store.UseMFATicket(ctx, s.cfg.OneTimeKeys.TokenHashes(ticket), t.UserID, proof, a.Now,
			auditEvent(ctx, a.Now, EventOneTimeTokenUsed, t.UserID, "", map[string]any{"second_factor": proofKind(proof)}))
		if err != nil {
			s.release(ctx, a)
			return nil, err
		}
	}
	switch outcome {
	case MFACodeRefused:
		e := auditEvent(ctx, a.Now, EventMFAFailed, t.UserID, "", attemptDetail(a, map[string]any{"second_factor": proofKind(proof)}))
		if err := s.store.RecordLoginFailure(ctx, a, e); err != nil {
			return nil, err
		}
		return nil, errInvalidMFACode
	case MFATicketDead:
		s.release(ctx, a)
		return nil, errMFATicket
	}
	method := "mfa"
	if data.Method != "" {
		method = data.Method + "+mfa"
	}
	return s.signInVerified(ctx, t.UserID, VerifiedSignIn{PasswordHash: passwordHash, Attempt: &a, Method: method,
		AMR: amr, Provider: data.Provider, VerifyEmail: data.VerifyEmail}, description)
}

// proofKind names a second factor in the audit trail.
func proofKind(p SecondFactorProof) string {
	if p.RecoveryHashes != nil {
		return MethodRecoveryCode
	}
	return MethodTOTP
}
