package mfa

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
)

// PasskeyConfig is the WebAuthn relying party.
type PasskeyConfig struct {
	// RPID is the relying party id (AUTHGATE_WEBAUTHN_RP_ID): the domain
	// passkeys are bound to, the app's host or a registrable suffix of it.
	RPID string
	// RPName is shown by the browser when a passkey is made.
	RPName string
	// Origins are the page origins ceremonies may come from
	// (AUTHGATE_WEBAUTHN_ORIGINS).
	Origins []string
}

// Passkeys runs WebAuthn ceremonies: discoverable credentials (the passkey
// names its user), user verification required, no attestation asked (a
// passkey proves possession; which maker built it is not authgate's
// business). Challenges are the library's (32 random bytes); their
// expiry and single use are the store's. It is safe for concurrent use.
type Passkeys struct {
	wa *webauthn.WebAuthn
}

// NewPasskeys checks cfg and returns the relying party; it fails when the
// RP ID is not a domain or no origin is given.
func NewPasskeys(cfg PasskeyConfig) (*Passkeys, error) {
	residentKey := true
	wa, err := webauthn.New(&webauthn.Config{
		RPID:                  cfg.RPID,
		RPDisplayName:         cfg.RPName,
		RPOrigins:             cfg.Origins,
		AttestationPreference: protocol.PreferNoAttestation,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			RequireResidentKey: &residentKey,
			ResidentKey:        protocol.ResidentKeyRequirementRequired,
			UserVerification:   protocol.VerificationRequired,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("mfa: the WebAuthn relying party: %w", err)
	}
	return &Passkeys{wa: wa}, nil
}

// PasskeyUser is a user as a ceremony sees it.
type PasskeyUser struct {
	// Handle is the WebAuthn user handle: the user id's 16 bytes (random,
	// no personal data).
	Handle []byte
	// Name is the account name the browser shows (the email).
	Name string
	// Credentials are the user's passkeys.
	Credentials []webauthn.Credential
}

func (u PasskeyUser) WebAuthnID() []byte                         { return u.Handle }
func (u PasskeyUser) WebAuthnName() string                       { return u.Name }
func (u PasskeyUser) WebAuthnDisplayName() string                { return u.Name }
func (u PasskeyUser) WebAuthnCredentials() []webauthn.Credential { return u.Credentials }

// Ceremony is a begun ceremony: the options for the browser, and what the
// server keeps until the finish.
type Ceremony struct {
	// Options is the JSON of PublicKeyCredentialCreationOptions or
	// PublicKeyCredentialRequestOptions (the "publicKey" member of what
	// navigator.credentials.create/get take).
	Options json.RawMessage
	// Session is the library's session data, JSON.
	Session json.RawMessage
	// ChallengeHash names the ceremony: SHA-256 of the challenge.
	ChallengeHash []byte
}

// ErrInvalidCredential wraps every refusal of a client's credential: one
// that cannot be parsed, or fails a check (origin, RP ID, challenge,
// signature, user verification, counter).
var ErrInvalidCredential = errors.New("mfa: the passkey response is not valid")

// BeginRegistration starts making a passkey for u; the user's existing
// passkeys are excluded (an authenticator holds one per account).
func (p *Passkeys) BeginRegistration(u PasskeyUser) (Ceremony, error) {
	exclude := make([]protocol.CredentialDescriptor, len(u.Credentials))
	for i, c := range u.Credentials {
		exclude[i] = c.Descriptor()
	}
	creation, session, err := p.wa.BeginRegistration(u, webauthn.WithExclusions(exclude),
		webauthn.WithExtensions(webauthn.WithExtensionCredProps()))
	if err != nil {
		return Ceremony{}, fmt.Errorf("mfa: beginning a passkey registration: %w", err)
	}
	return ceremony(creation.Response, session)
}

// BeginSignIn starts a passkey sign-in. With no credentials the browser
// offers every passkey it holds for this RP (discoverable); with some, only
// those.
func (p *Passkeys) BeginSignIn(allowed []webauthn.Credential) (Ceremony, error) {
	var opts []webauthn.LoginOption
	if len(allowed) > 0 {
		list := make([]protocol.CredentialDescriptor, len(allowed))
		for i, c := range allowed {
			list[i] = c.Descriptor()
		}
		opts = append(opts, webauthn.WithAllowedCredentials(list))
	}
	assertion, session, err := p.wa.BeginDiscoverableLogin(opts...)
	if err != nil {
		return Ceremony{}, fmt.Errorf("mfa: beginning a passkey sign-in: %w", err)
	}
	return ceremony(assertion.Response, session)
}

func ceremony(options any, session *webauthn.SessionData) (Ceremony, error) {
	o, err := json.Marshal(options)
	if err != nil {
		return Ceremony{}, err
	}
	s, err := json.Marshal(session)
	if err != nil {
		return Ceremony{}, err
	}
	return Ceremony{Options: o, Session: s, ChallengeHash: ChallengeHash(session.Challenge)}, nil
}

// ChallengeHash is the name under which a ceremony with this challenge (its
// base64url text, as the client echoes it) is kept.
func ChallengeHash(challenge string) []byte {
	h := sha256.Sum256([]byte(challenge))
	return h[:]
}

// Registration is a parsed registration response, not yet verified.
type Registration struct {
	parsed *protocol.ParsedCredentialCreationData
	// ChallengeHash names the ceremony it answers.
	ChallengeHash []byte
}

// ParseRegistration reads the JSON of a PublicKeyCredential that
// navigator.credentials.create returned; ErrInvalidCredential when it is
// none.
func ParseRegistration(credential []byte) (*Registration, error) {
	parsed, err := protocol.ParseCredentialCreationResponseBytes(credential)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidCredential, err)
	}
	return &Registration{parsed: parsed, ChallengeHash: ChallengeHash(parsed.Response.CollectedClientData.Challenge)}, nil
}

// FinishRegistration verifies r against the ceremony's session and u (origin,
// RP ID, challenge, user presence and verification, the attestation's
// form) and returns the new credential; ErrInvalidCredential when a check
// fails.
func (p *Passkeys) FinishRegistration(u PasskeyUser, session json.RawMessage, r *Registration) (*webauthn.Credential, error) {
	var sd webauthn.SessionData
	if err := json.Unmarshal(session, &sd); err != nil {
		return nil, fmt.Errorf("mfa: reading a ceremony: %w", err)
	}
	cred, err := p.wa.CreateCredential(u, sd, r.parsed)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidCredential, detail(err))
	}
	if !cred.Flags.UserVerified {
		return nil, fmt.Errorf("%w: the authenticator did not verify the user", ErrInvalidCredential)
	}
	return cred, nil
}

// Assertion is a parsed sign-in response, not yet verified.
type Assertion struct {
	parsed *protocol.ParsedCredentialAssertionData
	// ChallengeHash names the ceremony it answers.
	ChallengeHash []byte
	// UserHandle is the user the authenticator names; CredentialID the
	// passkey it used.
	UserHandle   []byte
	CredentialID []byte
}

// ParseAssertion reads the JSON of a PublicKeyCredential that
// navigator.credentials.get returned; ErrInvalidCredential when it is none
// or names no user (every authgate passkey is discoverable).
func ParseAssertion(credential []byte) (*Assertion, error) {
	parsed, err := protocol.ParseCredentialRequestResponseBytes(credential)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidCredential, err)
	}
	if len(parsed.Response.UserHandle) == 0 {
		return nil, fmt.Errorf("%w: the response names no user", ErrInvalidCredential)
	}
	return &Assertion{
		parsed:        parsed,
		ChallengeHash: ChallengeHash(parsed.Response.CollectedClientData.Challenge),
		UserHandle:    parsed.Response.UserHandle,
		CredentialID:  parsed.RawID,
	}, nil
}

// SignCount is the counter the authenticator reports in a.
func (a *Assertion) SignCount() uint32 { return a.parsed.Response.AuthenticatorData.Counter }

// FinishSignIn verifies a against the ceremony's session and u, the user its
// handle names (origin, RP ID, challenge, signature with the stored public
// key, user presence and verification, the passkey being u's and in the
// ceremony's allow-list, the signature counter moving forward) and returns
// the credential as updated; ErrInvalidCredential when a check fails.
func (p *Passkeys) FinishSignIn(u PasskeyUser, session json.RawMessage, a *Assertion) (*webauthn.Credential, error) {
	var sd webauthn.SessionData
	if err := json.Unmarshal(session, &sd); err != nil {
		return nil, fmt.Errorf("mfa: reading a ceremony: %w", err)
	}
	_, cred, err := p.wa.ValidatePasskeyLogin(func(_, handle []byte) (webauthn.User, error) { return u, nil }, sd, a.parsed)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidCredential, detail(err))
	}
	if cred.Authenticator.CloneWarning {
		return nil, fmt.Errorf("%w: the signature counter did not move forward (a cloned authenticator?)", ErrInvalidCredential)
	}
	if !a.parsed.Response.AuthenticatorData.Flags.HasUserVerified() {
		return nil, fmt.Errorf("%w: the authenticator did not verify the user", ErrInvalidCredential)
	}
	return cred, nil
}

// detail makes the library's error say what failed (its DevInfo) in logs.
func detail(err error) error {
	var pe *protocol.Error
	if errors.As(err, &pe) && pe.DevInfo != "" {
		return fmt.Errorf("%w (%s)", err, pe.DevInfo)
	}
	return err
}
