package auth

import (
	"context"
	"time"
)

// Store is the persistence auth needs. Implementations return *Error values
// for the outcomes named in each method's comment (ErrNotFound,
// ErrEmailTaken, Unavailable), and plain errors only for the unexpected.
type Store interface {
	ThrottleStore
	SignupStore
	AuditStore
	MailStore
	MFAStore
	AdminStore
	OneTimeStore
	EmailChangeStore
	IdentityStore
	// CreateUserWithSession inserts a user and, when s is not nil, its first
	// session, in one transaction. ErrEmailTaken when the email exists.
	CreateUserWithSession(ctx context.Context, u NewUser, s *NewSession) (UserRecord, SessionRecord, error)
	// UserByEmail finds a user by normalised email; ErrNotFound when none.
	UserByEmail(ctx context.Context, email string) (UserRecord, error)
	// UserByID finds a user; ErrNotFound when none.
	UserByID(ctx context.Context, id string) (UserRecord, error)
	// OpenSession opens s for a sign-in that verified v, in one statement,
	// only if the user is still as the sign-in found it (see VerifiedSignIn);
	// the outcome says which, and a record is returned only when it is
	// SignInOpened. The statement also applies v.Rehash, settles
	// v.Attempt's reservation as a correct password and records the login.
	OpenSession(ctx context.Context, s NewSession, v VerifiedSignIn) (SessionRecord, SignInOutcome, error)
	// RotateRefreshToken decides and applies one refresh in one statement.
	RotateRefreshToken(ctx context.Context, r Rotation) (RotationResult, error)
	// RevokeSessionByRefreshToken ends the session of a genuine refresh token
	// (current or older) and returns its id ("" for unknown tokens: not an
	// error).
	RevokeSessionByRefreshToken(ctx context.Context, t PresentedToken, now time.Time) (string, error)
	// RevokeSession ends a live session of userID; false when there is none.
	RevokeSession(ctx context.Context, userID, sessionID string, now time.Time) (bool, error)
	// CutOffUser moves userID's cut-off to c.Now (every token issued before
	// is dead), applies c's account changes and ends every live session,
	// returning their ids; ErrNotFound when there is no such user.
	CutOffUser(ctx context.Context, userID string, c CutOff) ([]string, error)
	// Unban lifts a ban; ErrNotFound when there is no such user.
	Unban(ctx context.Context, userID string, now time.Time) error
	// DenyAccessToken puts one access token on the denylist until it expires.
	DenyAccessToken(ctx context.Context, jti, userID string, expiresAt, now time.Time) error
	// RecordAccessTokenLifetime records that tokens living lifetime may be
	// live until liveUntil (a later record never moves it back), and
	// forgets other lifetimes whose liveUntil is before stale.
	RecordAccessTokenLifetime(ctx context.Context, lifetime time.Duration, liveUntil, stale time.Time) error
	// LongestAccessTokenLifetime returns the longest recorded lifetime whose
	// tokens may be live after after (0 when none).
	LongestAccessTokenLifetime(ctx context.Context, after time.Time) (time.Duration, error)
	// Revoked reports whether the database holds a revocation c names: its
	// jti denylisted, its session ended, or its user's cut-off after its
	// issue (whole seconds, as in the token). One indexed query.
	Revoked(ctx context.Context, c RevocationCheck) (bool, error)
	// Purge deletes what can no longer matter, in bounded batches, when no
	// other instance is purging; it reports what it deleted.
	Purge(ctx context.Context, p PurgePolicy) (PurgeResult, error)
	// SessionIsLive reports whether sessionID is a live session of userID
	// (not revoked, expired or cut off; its user neither disabled nor banned).
	SessionIsLive(ctx context.Context, userID, sessionID string, now time.Time) (bool, error)
	// ListSessions returns userID's live sessions, newest first.
	ListSessions(ctx context.Context, userID string, now time.Time) ([]*Session, error)
	// ChangePassword replaces the hash (if it is still oldHash, else
	// ErrInvalidCredentials), settles a's reservation as a correct password,
	// cuts the user off (ending every session, whose ids it returns) and
	// opens s, in one transaction.
	ChangePassword(ctx context.Context, userID, oldHash, newHash string, s NewSession, a LoginAttempt) (SessionRecord, []string, error)
	// UpdateUser applies change to userID and records it in the audit
	// trail; ErrNotFound when there is no such user, ErrEmailTaken when the
	// new email is another user's.
	UpdateUser(ctx context.Context, userID string, change UserChange) (UserRecord, error)
	// ListUsers returns at most limit users whose email contains search, by
	// email.
	ListUsers(ctx context.Context, search string, limit int) ([]UserRecord, error)
	// VerifyEmailByToken uses a live verify token whose hash is one of
	// hashes, recording e (the use), and proves its user's address if it
	// is still the token's (as ProveEmail, keeping the password);
	// Verified is false when there is no such token or the address
	// changed (the token is used up either way).
	VerifyEmailByToken(ctx context.Context, hashes [][]byte, now time.Time, e AuditEvent) (AddressProof, error)
	// ProveEmail proves userID's address by an emailed sign-in (method):
	// if it is still email and not verified yet, and the user may sign
	// in, it marks it verified and, in the same statement, removes the
	// identities that did not prove it, clears the password and deletes
	// the passkeys; when
	// that removed anything it cuts the user off. Under the user's row
	// lock, so that a racing identity link is either seen or refused.
	ProveEmail(ctx context.Context, userID, email string, now time.Time, method string) (AddressProof, error)
	// ResetPassword uses the live reset token r names and, in the same
	// transaction, sets the new password of its user (if the address is
	// still the token's: else ErrInvalidEmailToken), verifies the address,
	// clears the account's login throttle, cuts the user off (ending every
	// session, whose ids it returns) and opens r.Session. ErrInvalidEmailToken
	// when there is no such token, ErrUserDisabled for a disabled or banned
	// user; on any error nothing changes, the token's use included.
	ResetPassword(ctx context.Context, r PasswordReset) (UserRecord, SessionRecord, []string, error)
	// MarkEmailVerified marks the address of the user with this email
	// verified (keeping an earlier instant) and records it; ErrNotFound
	// when there is no such user.
	MarkEmailVerified(ctx context.Context, email string, now time.Time) (UserRecord, error)
	// SetPassword replaces userID's password hash, whatever it was, clears
	// the account's login throttle and cuts the user off (ending every
	// session, whose ids it returns), in one transaction; ErrNotFound when
	// there is no such user.
	SetPassword(ctx context.Context, userID, newHash string, now time.Time) ([]string, error)
}

// AddressProof is what the first proof of an address by mail did.
type AddressProof struct {
	// Verified: the address is verified now (VerifyEmailByToken: also
	// when it was before).
	Verified bool
	UserID   string
	// IdentitiesRemoved are the providers of the identities removed (they
	// had not proven this address); PasswordCleared says a password set
	// before the proof was cleared (an emailed sign-in's proof).
	IdentitiesRemoved []string
	PasswordCleared   bool
	// PasskeysRemoved counts the passkeys deleted (an emailed sign-in's
	// proof: they were registered before anyone proved the address).
	PasskeysRemoved int
	// CutOff says the user was cut off at the proof (it removed a way in);
	// SessionsEnded are the sessions that ended.
	CutOff        bool
	SessionsEnded []string
}

// PasswordReset is a password reset by an emailed token.
type PasswordReset struct {
	TokenHashes [][]byte
	NewHash     string
	// Session is the fresh session; its UserID is the token's user, as a
	// peek found it (the reset fails if the token's user differs).
	Session NewSession
	// Audit is the token's use (its client).
	Audit AuditEvent
}

// CutOff is a per-user revocation with optional account changes.
type CutOff struct {
	Now    time.Time
	Reason string
	// Disable, when set, disables (true) the user.
	Disable *bool
	// BannedUntil, when not zero, bans the user until then.
	BannedUntil time.Time
	BanReason   *string
}

// PurgePolicy says what the purge may delete at Now.
type PurgePolicy struct {
	Now time.Time
	// KeepRevokedFor keeps revoked sessions that long, expired or not (the
	// instances load recent ones at start): the longest access-token
	// lifetime that can still be live, plus the allowed skew.
	KeepRevokedFor time.Duration
	// BatchSize bounds each DELETE.
	BatchSize int
	// IdleScanRows bounds how many sessions one purge examines for idle
	// expiry (no index covers expires_at, which every rotation moves); the
	// next purge goes on where it stopped.
	IdleScanRows int
	// AuditRetention is how long audit events are kept.
	AuditRetention time.Duration
	// ThrottleRetention is how long after its last failure a login throttle
	// row can still hold anyone back.
	ThrottleRetention time.Duration
	// MailThrottleRetention is how long after its last mail a mail
	// throttle row (scopes mail and mail_address) can still hold a request
	// back.
	MailThrottleRetention time.Duration
	// MailOutboxRetention is how long a sent or failed mail stays in the
	// outbox (its outcome stays in the audit trail); zero keeps them.
	MailOutboxRetention time.Duration
}

// PurgeResult counts what a purge deleted. Skipped means another instance
// held the purge lock.
type PurgeResult struct {
	Sessions, RetiredTokens, DeniedTokens int
	AuditEvents, LoginThrottles           int
	MailOutbox                            int
	DeletedUsers                          int
	OneTimeTokens                         int
	// WebAuthnCeremonies are passkey ceremonies past their expiry, used or not.
	WebAuthnCeremonies int
	Skipped            bool
}

// UserRecord is a user with its password hash, as stored.
type UserRecord struct {
	User
	PasswordHash string
	// ValidAfter is the user's cut-off: every token and session issued
	// before it is dead (nil: none yet).
	ValidAfter *time.Time
	// Locale is the language of the user's mails (BCP 47; "": English).
	Locale string
	// TOTPEnabled says the user's TOTP is on; read by the sign-in lookups
	// (UserByID, ReserveLoginAttempt), false elsewhere.
	TOTPEnabled bool
}

// NewUser is a user to insert.
type NewUser struct {
	Email        string
	PasswordHash string
	DefaultRole  string
	AllowedRoles []string
	Now          time.Time
	// Disabled creates the user disabled; Imported records that its
	// password hash was made elsewhere.
	Disabled, Imported bool
	// EmailVerified creates the user with its address verified (at Now).
	EmailVerified bool
	// Locale is the language of the user's mails ("": none chosen).
	Locale string
	// Detail is added to the sign-up's audit row (a first email sign-in's
	// method).
	Detail map[string]any
	// Event is the audit event of a user made without a session:
	// EventUserCreated ("") or EventSignup (a sign-up that waits for its
	// address to be verified).
	Event AuditEventKind
}

// UserChange is an administrative change to a user; nil fields stay as they are.
type UserChange struct {
	Disabled     *bool
	DefaultRole  *string
	AllowedRoles []string
	// Claims, when not nil, replaces the custom claims.
	Claims Claims
	// Email, when not nil, replaces the email (normalised).
	Email *string
	Now   time.Time
}

// NewSession is a session to open.
type NewSession struct {
	UserID string
	// TokenSecret is the session's refresh-token secret S (see
	// internal/refreshtoken), stored only in its row.
	TokenSecret  []byte
	Description  *string
	UserAgent    string
	IP           string
	Now          time.Time
	ExpiresAt    time.Time
	MaxExpiresAt time.Time
	// AMR and AuthLevel are how the sign-in was proven (see Assurance);
	// every access token of the session carries them.
	AMR       []string
	AuthLevel int
}

// VerifiedSignIn is what a sign-in proved about its user when it checked
// the credential. The statement that opens the session checks it again
// under the user's row lock, so that a password change, a revocation of
// every session, a disable or a ban that lands between the check and the
// session kills the sign-in instead of missing its session. Every sign-in
// flow passes its own: a password login the hash it verified; a flow that
// proves no password (an emailed link, an identity provider, a passkey)
// none.
type VerifiedSignIn struct {
	// PasswordHash is the hash the password was verified against; the
	// session opens only while the user still has it. Empty: no password.
	PasswordHash string
	// ValidAfter is the user's cut-off as the check read it; the session
	// opens only while it has not moved.
	ValidAfter *time.Time
	// Rehash, when not empty, replaces PasswordHash in the same statement
	// (an upgrade of its parameters).
	Rehash string
	// Attempt is the login throttle's reservation that the sign-in settles
	// as a correct password; nil when the flow made none.
	Attempt *LoginAttempt
	// Method names how the user proved who they are, in the audit trail
	// ("password" when empty): "email_link", "email_code", "provider",
	// "passkey", "mfa"…
	Method string
	// AMR lists the authentication methods (RFC 8176: "pwd", "otp", "hwk",
	// "mfa"; "email" for an emailed link or code) the sign-in used; it is
	// recorded with the login (and, once sessions carry it, on the session).
	AMR []string
	// Provider is the identity provider's id, for provider sign-ins.
	Provider string
	// VerifyEmail, when not empty, marks the user's address verified in the
	// same statement, if it is still this address (an emailed token or
	// code proved it).
	VerifyEmail string
	// ProvenAt, when not zero, is when a flow that finishes later proved
	// who signs in (an auth code was made): a cut-off of the user after it
	// kills the sign-in, as it killed the sessions opened before it.
	ProvenAt time.Time
}

// SignInOutcome is what OpenSession found the user to be.
type SignInOutcome string

// The outcomes of OpenSession.
const (
	SignInOpened          SignInOutcome = "opened"           // as verified: the session is open
	SignInPasswordChanged SignInOutcome = "password_changed" // the password is no longer the one verified
	SignInCutOff          SignInOutcome = "cut_off"          // every session was revoked since the check
	SignInDisabled        SignInOutcome = "disabled"         // disabled or banned since the check
	SignInUserGone        SignInOutcome = "user_gone"        // the user no longer exists
)

// SessionRecord is what opening a session yields.
type SessionRecord struct {
	ID        string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// PresentedToken is a refresh token as the store sees it: a format-2
// token's session, generation and proof (its MAC already checked), or, when
// LegacyHashes is not nil, a format-1 token's hash under each candidate key.
type PresentedToken struct {
	SessionID    string
	Generation   int64
	Proof        []byte
	LegacyHashes [][]byte
}

// Rotation is one refresh request.
type Rotation struct {
	PresentedToken
	Now time.Time
	// The previous generation is replayed (not reuse) only when the session
	// was rotated after GraceCutoff, by Client, fewer than ReplayLimit
	// replays ago.
	GraceCutoff time.Time
	Client      []byte
	ReplayLimit int
	// ExpiresAt is the new sliding expiry; the store caps it at the session's
	// absolute limit.
	ExpiresAt time.Time
	IP        string
	UserAgent string
	// Audit records rotations and replays in the audit trail (reuse always is).
	Audit bool
}

// RotationOutcome is what a refresh turned out to be.
type RotationOutcome string

// The outcomes of RotateRefreshToken.
const (
	Rotated  RotationOutcome = "rotated"  // the token was current: its successor is now
	Replayed RotationOutcome = "replayed" // the previous generation, allowed by the replay rule: same successor
	Reused   RotationOutcome = "reused"   // an older genuine token, or a replay the rule refuses: the session was ended
	Dead     RotationOutcome = "dead"     // the session is revoked or expired
	Disabled RotationOutcome = "disabled" // the user may not sign in
	Unknown  RotationOutcome = "unknown"  // no session has this token (nothing was changed)
)

// RotationResult reports a refresh. Session and user fields are set for every
// outcome but Unknown; the successor's generation and proof only for Rotated
// and Replayed.
type RotationResult struct {
	Outcome   RotationOutcome
	SessionID string
	AuthTime  time.Time
	ExpiresAt time.Time
	User      User
	// AMR and AuthLevel are the session's, as its sign-in proved them.
	AMR       []string
	AuthLevel int
	// SuccessorGeneration and SuccessorProof make the token the client gets.
	SuccessorGeneration int64
	SuccessorProof      []byte
}
