package auth

import (
	"context"
)

// signInVerified opens a session for the user whose sign-in was proved by
// something other than a password check of Login: an emailed link or code,
// an identity provider, a passkey, a completed second factor. Every such
// flow ends here, so the one rule holds for all of them: the session is
// opened by the statement that checks, under the user's row lock, that the
// user is not disabled or banned and that its cut-off has not moved since
// it was read (OpenSession), and v's Method, AMR and Provider go into the
// login's audit row. A user with TOTP on whose sign-in proved one factor
// gets MFA_REQUIRED and a ticket instead (see secondFactorDue).
// v.ValidAfter is filled here; a flow that proved a
// password earlier (a second factor after Login) passes its hash in
// v.PasswordHash, so that a password change meanwhile kills the sign-in.
// Errors: INVALID_CREDENTIALS (the user vanished, or every session was
// revoked while the sign-in went on), USER_DISABLED, MFA_REQUIRED,
// BAD_USER_INPUT (the description), UNAVAILABLE.
func (s *Service) signInVerified(ctx context.Context, userID string, v VerifiedSignIn, description *string) (*AuthPayload, error) {
	if err := checkDescription(description); err != nil {
		return nil, err
	}
	u, err := s.signInUser(ctx, userID, v)
	if err != nil {
		return nil, err
	}
	if !v.ProvenAt.IsZero() && u.ValidAfter != nil && u.ValidAfter.After(v.ProvenAt) {
		return nil, ErrInvalidCredentials // cut off since the proof (every session then ended)
	}
	if err := s.secondFactorDue(ctx, u, v); err != nil {
		return nil, err
	}
	v.ValidAfter = u.ValidAfter
	if v.VerifyEmail != "" && v.VerifyEmail == u.Email {
		u.EmailVerified = true // the statement that opens the session marks it
	}
	return s.openSession(ctx, u, v, description)
}

// signInUser reads the user of a verified sign-in and refuses one
// that may not sign in: gone (INVALID_CREDENTIALS), or disabled or banned
// (USER_DISABLED, audited as a failed login with v's method, AMR and
// provider). Also UNAVAILABLE.
func (s *Service) signInUser(ctx context.Context, userID string, v VerifiedSignIn) (UserRecord, error) {
	u, err := s.store.UserByID(ctx, userID)
	if CodeOf(err) == CodeNotFound {
		return UserRecord{}, ErrInvalidCredentials
	}
	if err != nil {
		return UserRecord{}, err
	}
	if u.Disabled || banned(u.User, s.clock.Now()) {
		if err := s.signInRefused(ctx, u.ID, v, "user disabled or banned"); err != nil {
			return UserRecord{}, err
		}
		return UserRecord{}, ErrUserDisabled
	}
	return u, nil
}

// signInRefused records a verified sign-in of userID refused for reason
// (login_failed, with v's method, AMR and provider). Errors: UNAVAILABLE.
func (s *Service) signInRefused(ctx context.Context, userID string, v VerifiedSignIn, reason string) error {
	return s.store.RecordAudit(ctx, auditEvent(ctx, s.clock.Now(), EventLoginFailed, userID, "", signInDetail(v, map[string]any{"reason": reason})))
}

// AuditDetail is what the sign-in adds to its login's audit row: its
// method, AMR and provider, where set.
func (v VerifiedSignIn) AuditDetail() map[string]any {
	return signInDetail(v, nil)
}

// signInDetail adds v's method, AMR and provider to an audit detail.
func signInDetail(v VerifiedSignIn, detail map[string]any) map[string]any {
	if detail == nil {
		detail = map[string]any{}
	}
	if v.Method != "" {
		detail["method"] = v.Method
	}
	if len(v.AMR) > 0 {
		detail["amr"] = v.AMR
	}
	if v.Provider != "" {
		detail["provider"] = v.Provider
	}
	return detail
}
