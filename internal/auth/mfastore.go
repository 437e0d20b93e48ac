package auth

import (
	"context"
	"encoding/json"
	"time"
)

// MFAStore is the part of Store behind second factors and passkeys.
type MFAStore interface {
	// MFAState reads what the MFA operations decide on: the user (ErrNotFound
	// when none), its TOTP, its passkey count, and the level of its session
	// sessionID (0 when that is no live session of the user).
	MFAState(ctx context.Context, userID, sessionID string, now time.Time) (MFAState, error)
	// SaveTOTPEnrollment stores a sealed secret waiting for its first code,
	// replacing a waiting one; false when the user's TOTP is already on.
	SaveTOTPEnrollment(ctx context.Context, userID string, sealed []byte, now time.Time) (bool, error)
	// ConfirmTOTP turns on the waiting TOTP whose secret is sealed, marking
	// step used, and replaces the recovery codes with recoveryHashes, in
	// one transaction, audited; false when no such enrolment waits or the
	// step is not after the last used one.
	ConfirmTOTP(ctx context.Context, userID string, sealed []byte, step int64, recoveryHashes [][]byte, now time.Time) (bool, error)
	// DisableTOTP uses p, turns TOTP off, deletes the recovery codes and
	// ends every live session of the user but keepSession, in one
	// transaction, audited; it returns the ended sessions' ids, and false
	// when p does not hold (nothing changes).
	DisableTOTP(ctx context.Context, userID, keepSession string, p SecondFactorProof, now time.Time) ([]string, bool, error)
	// ReplaceRecoveryCodes uses p and replaces the recovery codes with
	// hashes, in one transaction, audited; false when p does not hold.
	ReplaceRecoveryCodes(ctx context.Context, userID string, p SecondFactorProof, hashes [][]byte, now time.Time) (bool, error)
	// UseMFATicket uses p and the live MFA ticket of userID whose hash is
	// one of ticketHashes (issued after the user's cut-off), in one
	// transaction, recording e; both or neither: MFACodeRefused when p
	// does not hold, MFATicketDead when the ticket does not.
	UseMFATicket(ctx context.Context, ticketHashes [][]byte, userID string, p SecondFactorProof, now time.Time, e AuditEvent) (MFATicketOutcome, error)
	// SaveCeremony keeps a begun WebAuthn ceremony until it is used or
	// expires.
	SaveCeremony(ctx context.Context, c NewCeremony) error
	// UseCeremony uses the live ceremony of kind named by challengeHash
	// (for a registration, of userID), once: it returns its session data
	// and user, and false when there is none (unknown, used, expired).
	UseCeremony(ctx context.Context, challengeHash []byte, kind, userID string, now time.Time) (json.RawMessage, string, bool, error)
	// PasskeyCredentials returns the user's passkeys, oldest first.
	PasskeyCredentials(ctx context.Context, userID string) ([]StoredPasskey, error)
	// AddPasskey keeps a verified passkey, audited; INVALID_PASSKEY when
	// its credential id is registered already.
	AddPasskey(ctx context.Context, userID string, credentialID []byte, credential json.RawMessage, signCount int64, name string, now time.Time) (*Passkey, error)
	// UsePasskey records a sign-in with the user's passkey, only if its
	// signature counter moves forward (or both are 0); false otherwise.
	UsePasskey(ctx context.Context, userID, passkeyID string, signCount int64, credential json.RawMessage, now time.Time) (bool, error)
	// RemovePasskey deletes the user's passkey, unless it is the user's
	// last way to sign in (no password, no identity, no other passkey;
	// passkeysCount: passkeys are configured, else a passkey is never the
	// last way), and ends every other live session of the user but
	// keepSession, audited, under the user's row lock (two removals of
	// the last two ways in, passkeys or identities, cannot both win); it
	// returns the ended sessions' ids and what it did.
	RemovePasskey(ctx context.Context, userID, passkeyID, keepSession string, passkeysCount bool, now time.Time) ([]string, PasskeyRemoval, error)
	// SessionAssurance returns the assurance of sessionID, a live session
	// of userID (Level 0 when it is none).
	SessionAssurance(ctx context.Context, userID, sessionID string) (Assurance, error)
	// UserFactors returns whether the user's TOTP is on and its passkeys,
	// oldest first.
	UserFactors(ctx context.Context, userID string) (bool, []*Passkey, error)
}

// MFAState is what MFAStore.MFAState reads.
type MFAState struct {
	Email string
	// TOTPSealed is the sealed secret, enrolled or on (nil: none).
	TOTPSealed []byte
	// TOTPEnabled says the secret was confirmed: TOTP is on.
	TOTPEnabled bool
	// TOTPLastStep is the last accepted code's time step (-1: none).
	TOTPLastStep int64
	Passkeys     int
	// SessionLevel is the caller's session's level; 0: not a live session
	// of the user.
	SessionLevel int
}

// SecondFactorProof is a second factor the store checks and uses up in
// the statement that needs it: a TOTP time step (accepted once, and only
// after the last accepted one) or a recovery code (by its hashes under
// every key; each code works once).
type SecondFactorProof struct {
	// TOTPStep is the matched step, when Recovery is nil.
	TOTPStep int64
	// RecoveryHashes, when not nil, make the proof a recovery code.
	RecoveryHashes [][]byte
}

// Passkey is a user's WebAuthn credential, as its owner sees it.
type Passkey struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	CreatedAt  time.Time  `json:"createdAt"`
	LastUsedAt *time.Time `json:"lastUsedAt"`
}
