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
	AuditStore
	MailStore
	// CreateUserWithSession inserts a user and, when s is not nil, its first
	// session, in one transaction. ErrEmailTaken when the email exists.
	CreateUserWithSession(ctx context.Context, u NewUser, s *NewSession) (UserRecord, SessionRecord, error)
	// UserByEmail finds a user by normalised email; ErrNotFound when none.
	UserByEmail(ctx context.Context, email string) (UserRecord, error)
	// UserByID finds a user; ErrNotFound when none.
	UserByID(ctx context.Context, id string) (UserRecord, error)
	// CreateSession inserts a session and, when rehash is not empty, replaces
	// the user's password hash in the same round trip (only if it is still
	// oldHash, so a concurrent password change wins).
	CreateSession(ctx context.Context, s NewSession, oldHash, rehash string) (SessionRecord, error)
	// RotateRefreshToken decides and applies one refresh in one statement.
	RotateRefreshToken(ctx context.Context, r Rotation) (RotationResult, error)
	// RevokeSessionByTokenHash ends the session whose current or retired token
	// has this hash and returns its id ("" for unknown hashes: not an error).
	RevokeSessionByTokenHash(ctx context.Context, hash []byte, now time.Time) (string, error)
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
	// Purge deletes what can no longer matter, in bounded batches, when no
	// other instance is purging; it reports what it deleted.
	Purge(ctx context.Context, p PurgePolicy) (PurgeResult, error)
	// ListSessions returns userID's live sessions, newest first.
	ListSessions(ctx context.Context, userID string, now time.Time) ([]*Session, error)
	// ChangePassword replaces the hash (if it is still oldHash, else
	// ErrInvalidCredentials), cuts the user off (ending every session, whose
	// ids it returns) and opens s, in one transaction.
	ChangePassword(ctx context.Context, userID, oldHash, newHash string, s NewSession) (SessionRecord, []string, error)
	// UpdateUser applies change to the user with this email; ErrNotFound when none.
	UpdateUser(ctx context.Context, email string, change UserChange) (UserRecord, error)
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
	// KeepRevokedFor keeps revoked sessions that long (the instances load
	// recent ones at start).
	KeepRevokedFor time.Duration
	// SessionMaxAge bounds how long a retired refresh token can matter.
	SessionMaxAge time.Duration
	// BatchSize bounds each DELETE.
	BatchSize int
	// AuditRetention is how long audit events are kept.
	AuditRetention time.Duration
	// ThrottleRetention is how long after its last failure a login throttle
	// row can still hold anyone back.
	ThrottleRetention time.Duration
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
	Skipped                               bool
}

// UserRecord is a user with its password hash, as stored.
type UserRecord struct {
	User
	PasswordHash string
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
}

// UserChange is an administrative change to a user; nil fields stay as they are.
type UserChange struct {
	Disabled     *bool
	DefaultRole  *string
	AllowedRoles []string
	// Claims, when not nil, replaces the custom claims.
	Claims Claims
	Now    time.Time
}

// NewSession is a session to open.
type NewSession struct {
	UserID       string
	TokenHash    []byte
	Description  *string
	UserAgent    string
	IP           string
	Now          time.Time
	ExpiresAt    time.Time
	MaxExpiresAt time.Time
}

// SessionRecord is what opening a session yields.
type SessionRecord struct {
	ID        string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Rotation is one refresh request, already hashed.
type Rotation struct {
	TokenHash     []byte
	SuccessorHash []byte
	Now           time.Time
	// A retired token whose successor is still current is replayed (not
	// reuse) when it was retired after GraceCutoff.
	GraceCutoff time.Time
	// ExpiresAt is the new sliding expiry; the store caps it at the session's
	// absolute limit.
	ExpiresAt time.Time
	IP        string
	UserAgent string
}

// RotationOutcome is what a refresh turned out to be.
type RotationOutcome string

// The outcomes of RotateRefreshToken.
const (
	Rotated  RotationOutcome = "rotated"  // the token was current: its successor is now
	Replayed RotationOutcome = "replayed" // the token was just retired, within grace: same successor
	Reused   RotationOutcome = "reused"   // a retired token outside grace: the session was ended
	Dead     RotationOutcome = "dead"     // the session is revoked or expired
	Disabled RotationOutcome = "disabled" // the user may not sign in
	Unknown  RotationOutcome = "unknown"  // no session has this token
)

// RotationResult reports a refresh. Session and user fields are set for every
// outcome but Unknown.
type RotationResult struct {
	Outcome   RotationOutcome
	SessionID string
	AuthTime  time.Time
	ExpiresAt time.Time
	User      User
}
