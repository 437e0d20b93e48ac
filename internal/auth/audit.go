package auth

import (
	"context"
	"time"
)

// AuditEventKind names a security event. The names are stored, and printed
// by `authgate audit`: never rename one.
type AuditEventKind string

// The events of the audit trail. The store writes most of them in the
// statement that makes the change they record.
const (
	EventSignup               AuditEventKind = "signup"       // self sign-up, with the first session
	EventUserCreated          AuditEventKind = "user_created" // by an administrator, or imported (detail.imported)
	EventLogin                AuditEventKind = "login"        // detail.rehashed when the stored hash was upgraded
	EventLoginFailed          AuditEventKind = "login_failed" // detail.email as attempted; user id when known
	EventLockout              AuditEventKind = "lockout"      // the throttle starts holding an account or address back
	EventRefresh              AuditEventKind = "refresh"      // detail.replayed for a retry within the grace window
	EventRefreshTokenReused   AuditEventKind = "refresh_token_reused"
	EventLogout               AuditEventKind = "logout"
	EventSessionRevoked       AuditEventKind = "session_revoked"
	EventSessionsRevoked      AuditEventKind = "sessions_revoked" // every session, by the user or an administrator
	EventAccessTokenRevoked   AuditEventKind = "access_token_revoked"
	EventPasswordChanged      AuditEventKind = "password_changed"
	EventPasswordChangeFailed AuditEventKind = "password_change_failed"
	EventDisabled             AuditEventKind = "disabled"
	EventEnabled              AuditEventKind = "enabled"
	EventBanned               AuditEventKind = "banned"
	EventUnbanned             AuditEventKind = "unbanned"
	EventRolesChanged         AuditEventKind = "roles_changed"
	EventClaimsChanged        AuditEventKind = "claims_changed"
	// EventEmailNormalized and EventEmailNotNormalized are the report of
	// the migration that brought stored addresses to NormalizeEmail's form:
	// detail.from and detail.to; detail.reason (and detail.normalized, for
	// an address whose normal form another account has).
	EventEmailNormalized    AuditEventKind = "email_normalized"
	EventEmailNotNormalized AuditEventKind = "email_not_normalized"
	// Written by the mail worker; detail: template, email (the recipient),
	// attempts, outbox_id, and for failures reason and error. Never the
	// mail's link or code.
	EventMailSent   AuditEventKind = "mail_sent"
	EventMailFailed AuditEventKind = "mail_failed"
	// Second factors and passkeys: detail.method (totp, passkey), and for
	// mfa_disabled the proof given and how many other sessions it ended.
	EventMFAEnabled               AuditEventKind = "mfa_enabled"
	EventMFADisabled              AuditEventKind = "mfa_disabled"
	EventMFAFailed                AuditEventKind = "mfa_failed" // a wrong, replayed or used-up code
	EventRecoveryCodesRegenerated AuditEventKind = "recovery_codes_regenerated"
	EventPasskeyAdded             AuditEventKind = "passkey_added"
	EventPasskeyRemoved           AuditEventKind = "passkey_removed"
	// EventEmailChanged: an administrator changed the address (detail.from,
	// detail.to). EventUserDeleted: detail.email, detail.sessions (the live
	// sessions it ended).
	EventEmailChanged AuditEventKind = "email_changed"
	EventUserDeleted  AuditEventKind = "user_deleted"
)

// AuditEvent is one row of the audit trail. It never holds a secret: no
// token, hash or password.
type AuditEvent struct {
	// ID orders events written at the same instant (0 for one not yet
	// stored).
	ID        int64
	At        time.Time
	Event     AuditEventKind
	UserID    string
	SessionID string
	IP        string
	UserAgent string
	// Detail is a small JSON object of facts about the event.
	Detail map[string]any
	// Actor is the administrator who made the change (see WithActor); ""
	// for what a user did itself.
	Actor string
}

// AuditStore is the part of Store behind the audit trail.
type AuditStore interface {
	// RecordAudit writes one event that rides in no other statement.
	RecordAudit(ctx context.Context, e AuditEvent) error
	// AuditTrail returns the events of the user with this email, and the
	// failed attempts on this email, at or after since, oldest first.
	AuditTrail(ctx context.Context, email string, since time.Time) ([]AuditEvent, error)
}

// DefaultAuditRetention is how long audit events are kept unless
// Config.AuditRetention says otherwise.
const DefaultAuditRetention = 90 * 24 * time.Hour

// AuditTrail returns the audit trail of the user with this email (and
// failed attempts on it, known user or not), oldest first, from since on
// (zero: everything kept). Errors: BAD_USER_INPUT, UNAVAILABLE.
func (s *Service) AuditTrail(ctx context.Context, email string, since time.Time) ([]AuditEvent, error) {
	email, err := NormalizeEmail(email)
	if err != nil {
		return nil, err
	}
	return s.store.AuditTrail(ctx, email, since)
}

// auditEvent is an event of the request's client.
func auditEvent(ctx context.Context, at time.Time, kind AuditEventKind, userID, sessionID string, detail map[string]any) AuditEvent {
	client := ClientFrom(ctx)
	return AuditEvent{
		At: at, Event: kind, UserID: userID, SessionID: sessionID,
		IP: client.IP, UserAgent: client.UserAgent, Detail: detail, Actor: ActorFrom(ctx),
	}
}
