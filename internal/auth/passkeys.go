package auth

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"

	"authgate/internal/mfa"
)

// The WebAuthn ceremony kinds.
const (
	CeremonyRegistration = "registration"
	CeremonySignIn       = "signin"
)

const maxPasskeyNameLength = 100

var (
	errPasskeysOff     = newError(CodeForbidden, "passkeys are not configured on this server (AUTHGATE_WEBAUTHN_RP_ID)")
	errInvalidPasskey  = newError(CodeInvalidPasskey, "the passkey could not be verified")
	errNoSuchPasskey   = newError(CodeNotFound, "no passkey of yours has this id")
	errPasskeyTaken    = newError(CodeInvalidPasskey, "this passkey is already registered")
	errCeremonyUnknown = newError(CodeInvalidPasskey, "the passkey ceremony is unknown, used or expired; begin again")
)

// NewCeremony is a begun WebAuthn ceremony to keep until its finish.
type NewCeremony struct {
	ChallengeHash []byte
	Kind          string
	// UserID is the registering user; "" for a sign-in.
	UserID    string
	Session   json.RawMessage
	Now       time.Time
	ExpiresAt time.Time
}

// StoredPasskey is a passkey as the store keeps it.
type StoredPasskey struct {
	ID         string
	Credential json.RawMessage
	SignCount  int64
}

// invalidPasskey is INVALID_PASSKEY with its cause, for the logs only.
func invalidPasskey(cause error) error {
	return &Error{Code: CodeInvalidPasskey, Message: errInvalidPasskey.Message, Err: cause}
}

// passkeyUser assembles u's WebAuthn view: its handle and its credentials,
// each with the stored signature counter.
func (s *Service) passkeyUser(ctx context.Context, userID, email string) (mfa.PasskeyUser, []StoredPasskey, error) {
	handle, err := userHandle(userID)
	if err != nil {
		return mfa.PasskeyUser{}, nil, err
	}
	stored, err := s.store.PasskeyCredentials(ctx, userID)
	if err != nil {
		return mfa.PasskeyUser{}, nil, err
	}
	u := mfa.PasskeyUser{Handle: handle, Name: email}
	for _, p := range stored {
		var c webauthn.Credential
		if err := json.Unmarshal(p.Credential, &c); err != nil {
			return mfa.PasskeyUser{}, nil, fmt.Errorf("reading passkey %s: %w", p.ID, err)
		}
		c.Authenticator.SignCount = uint32(p.SignCount)
		u.Credentials = append(u.Credentials, c)
	}
	return u, stored, nil
}

// userHandle is a user id's 16 bytes, the WebAuthn user handle.
func userHandle(userID string) ([]byte, error) {
	if !isUUID(userID) {
		return nil, fmt.Errorf("user id %q is not a UUID", userID)
	}
	return hex.DecodeString(strings.ReplaceAll(userID, "-", ""))
}

// userIDOf reads a user handle back into a user id; "" when it is none.
func userIDOf(handle []byte) string {
	if len(handle) != 16 {
		return ""
	}
	h := hex.EncodeToString(handle)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// BeginPasskeyRegistration starts making a passkey for the caller and
// returns the PublicKeyCredentialCreationOptions for
// navigator.credentials.create({publicKey}). The challenge works once, for
// CeremonyTTL. An account that already has a second factor needs a
// level-2 session. Errors: UNAUTHENTICATED, FORBIDDEN (passkeys not
// configured, or a level-2 session needed), UNAVAILABLE.
func (s *Service) BeginPasskeyRegistration(ctx context.Context) (JSONObject, error) {
	pk := s.cfg.MFA.Passkeys
	if pk == nil {
		return nil, errPasskeysOff
	}
	p, st, err := s.mfaCaller(ctx, true)
	if err != nil {
		return nil, err
	}
	u, _, err := s.passkeyUser(ctx, p.UserID, st.Email)
	if err != nil {
		return nil, err
	}
	c, err := pk.BeginRegistration(u)
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	if err := s.store.SaveCeremony(ctx, NewCeremony{ChallengeHash: c.ChallengeHash, Kind: CeremonyRegistration,
		UserID: p.UserID, Session: c.Session, Now: now, ExpiresAt: now.Add(CeremonyTTL)}); err != nil {
		return nil, err
	}
	return JSONObject(c.Options), nil
}

// FinishPasskeyRegistration verifies what navigator.credentials.create
// returned (as JSON) against the caller's ceremony and keeps the passkey,
// named name ("Passkey" when empty). Errors: UNAUTHENTICATED, FORBIDDEN
// (not configured), BAD_USER_INPUT (the name), INVALID_PASSKEY (no such
// live ceremony of the caller, a failed check, a passkey already
// registered), UNAVAILABLE.
func (s *Service) FinishPasskeyRegistration(ctx context.Context, credential JSONObject, name *string) (*Passkey, error) {
	pk := s.cfg.MFA.Passkeys
	if pk == nil {
		return nil, errPasskeysOff
	}
	p, err := PrincipalFrom(ctx)
	if err != nil {
		return nil, err
	}
	label := "Passkey"
	if name != nil && strings.TrimSpace(*name) != "" {
		label = strings.TrimSpace(*name)
	}
	if len(label) > maxPasskeyNameLength || !storable(label) {
		return nil, badInput(fmt.Sprintf("name must be valid UTF-8 of at most %d bytes, without NUL characters", maxPasskeyNameLength))
	}
	reg, err := mfa.ParseRegistration(credential)
	if err != nil {
		return nil, invalidPasskey(err)
	}
	now := s.clock.Now()
	session, _, ok, err := s.store.UseCeremony(ctx, reg.ChallengeHash, CeremonyRegistration, p.UserID, now)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errCeremonyUnknown
	}
	u, err := s.store.UserByID(ctx, p.UserID)
	if err != nil {
		return nil, authError(err)
	}
	pu, _, err := s.passkeyUser(ctx, p.UserID, u.Email)
	if err != nil {
		return nil, err
	}
	cred, err := pk.FinishRegistration(pu, session, reg)
	if err != nil {
		return nil, invalidPasskey(err)
	}
	raw, err := json.Marshal(cred)
	if err != nil {
		return nil, err
	}
	return s.store.AddPasskey(ctx, p.UserID, cred.ID, raw, int64(cred.Authenticator.SignCount), label, now)
}

// BeginPasskeySignIn starts a passkey sign-in and returns the
// PublicKeyCredentialRequestOptions for navigator.credentials.get({publicKey}).
// With an email of an account that has passkeys, only those are offered;
// otherwise the browser offers every passkey it holds for this site. The
// challenge works once, for CeremonyTTL. Errors: FORBIDDEN (not
// configured), UNAVAILABLE.
func (s *Service) BeginPasskeySignIn(ctx context.Context, email *string) (JSONObject, error) {
	pk := s.cfg.MFA.Passkeys
	if pk == nil {
		return nil, errPasskeysOff
	}
	var allowed []webauthn.Credential
	if email != nil && *email != "" {
		if normalized, err := NormalizeEmail(*email); err == nil {
			u, err := s.store.UserByEmail(ctx, normalized)
			switch {
			case err == nil:
				pu, _, err := s.passkeyUser(ctx, u.ID, u.Email)
				if err != nil {
					return nil, err
				}
				allowed = pu.Credentials
			case CodeOf(err) != CodeNotFound:
				return nil, err
			}
		}
	}
	c, err := pk.BeginSignIn(allowed)
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	if err := s.store.SaveCeremony(ctx, NewCeremony{ChallengeHash: c.ChallengeHash, Kind: CeremonySignIn,
		Session: c.Session, Now: now, ExpiresAt: now.Add(CeremonyTTL)}); err != nil {
		return nil, err
	}
	return JSONObject(c.Options), nil
}

// FinishPasskeySignIn verifies what navigator.credentials.get returned (as
// JSON) and opens a session of the passkey's user: two factors (a key the
// user holds, with user verification), amr ["hwk"], level 2, no second
// step. The ceremony works once; the signature counter must move forward
// (a cloned authenticator is refused), in the statement that records it.
// Errors: INVALID_PASSKEY (no such live ceremony, a failed check, another
// user's or a removed passkey, a counter that went backwards),
// USER_DISABLED, INVALID_CREDENTIALS (the user was cut off meanwhile),
// BAD_USER_INPUT (the description), FORBIDDEN (not configured),
// UNAVAILABLE.
func (s *Service) FinishPasskeySignIn(ctx context.Context, credential JSONObject, description *string) (*AuthPayload, error) {
	pk := s.cfg.MFA.Passkeys
	if pk == nil {
		return nil, errPasskeysOff
	}
	if err := checkDescription(description); err != nil {
		return nil, err
	}
	a, err := mfa.ParseAssertion(credential)
	if err != nil {
		return nil, invalidPasskey(err)
	}
	now := s.clock.Now()
	session, _, ok, err := s.store.UseCeremony(ctx, a.ChallengeHash, CeremonySignIn, "", now)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errCeremonyUnknown
	}
	userID := userIDOf(a.UserHandle)
	if userID == "" {
		return nil, invalidPasskey(errors.New("the user handle is not a user id"))
	}
	u, err := s.store.UserByID(ctx, userID)
	if CodeOf(err) == CodeNotFound {
		return nil, invalidPasskey(errors.New("the user handle names no user"))
	}
	if err != nil {
		return nil, err
	}
	pu, stored, err := s.passkeyUser(ctx, userID, u.Email)
	if err != nil {
		return nil, err
	}
	cred, err := pk.FinishSignIn(pu, session, a)
	if err != nil {
		return nil, invalidPasskey(err)
	}
	var passkeyID string
	for i, c := range pu.Credentials {
		if string(c.ID) == string(cred.ID) {
			passkeyID = stored[i].ID
		}
	}
	raw, err := json.Marshal(cred)
	if err != nil {
		return nil, err
	}
	used, err := s.store.UsePasskey(ctx, userID, passkeyID, int64(a.SignCount()), raw, now)
	if err != nil {
		return nil, err
	}
	if !used {
		// Another sign-in with this passkey moved the counter past this one
		// meanwhile: the same signature counter twice is a clone.
		return nil, invalidPasskey(errors.New("the signature counter did not move forward"))
	}
	return s.signInVerified(ctx, userID, VerifiedSignIn{Method: "passkey", AMR: []string{AMRPasskey}}, description)
}

// PasskeyRemoval is what MFAStore.RemovePasskey did.
type PasskeyRemoval string

// The outcomes of RemovePasskey.
const (
	PasskeyRemoved   PasskeyRemoval = "removed"
	PasskeyNone      PasskeyRemoval = "none"     // the user has no such passkey
	PasskeyLastWayIn PasskeyRemoval = "last_way" // it is the user's last way to sign in: kept
)

var errLastPasskey = badInput("this passkey is your last way to sign in: set a password (the password-reset flow), link a provider or add another passkey first")

// RemovePasskey deletes one of the caller's passkeys and ends every other
// session of the user (the caller's lives on); audited. It needs a level-2
// session. It never removes the last way to sign in (the rule of
// UnlinkIdentity: no password, no identity and no other passkey left).
// Errors: UNAUTHENTICATED, FORBIDDEN (a level-2 session needed),
// BAD_USER_INPUT (the last way in), NOT_FOUND, UNAVAILABLE.
func (s *Service) RemovePasskey(ctx context.Context, id string) (bool, error) {
	p, _, err := s.mfaCaller(ctx, true)
	if err != nil {
		return false, err
	}
	if !isUUID(id) {
		return false, errNoSuchPasskey
	}
	now := s.clock.Now()
	ended, outcome, err := s.store.RemovePasskey(ctx, p.UserID, id, p.SessionID, s.cfg.MFA.Passkeys != nil, now)
	if err != nil {
		return false, err
	}
	switch outcome {
	case PasskeyRemoved:
	case PasskeyLastWayIn:
		return false, errLastPasskey
	default:
		return false, errNoSuchPasskey
	}
	s.revocations.SessionsEnded(now, ended...)
	return true, nil
}
