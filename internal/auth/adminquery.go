package auth

import (
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// AdminStore is the part of Store behind the admin API's lists and
// destructive operations.
type AdminStore interface {
	// UsersPage returns at most limit users whose email contains search,
	// newest first (by created_at, then id, descending), after the position
	// after (zero: from the newest).
	UsersPage(ctx context.Context, search string, after PageKey, limit int) ([]UserRecord, error)
	// CountUsers counts the users whose email contains search.
	CountUsers(ctx context.Context, search string) (int, error)
	// UserFacts reads what an administrator sees of userID beyond its
	// record: its last sign-in, its email's verification.
	UserFacts(ctx context.Context, userID string) (UserFacts, error)
	// UserSessions returns userID's sessions, newest first: the live ones,
	// and with includeEnded the ended ones the purge has not yet deleted.
	UserSessions(ctx context.Context, userID string, includeEnded bool, now time.Time) ([]AdminSession, error)
	// EndSession ends one live session, whoever's, announces it and records
	// it; ErrNotFound when no live session has this id.
	EndSession(ctx context.Context, sessionID string, now time.Time) error
	// DeleteUser deletes userID and its sessions, keeps its id and email as
	// a tombstone (its tokens stay dead, its audit rows findable), announces
	// the cut-off and each live session's end, and records the deletion, in
	// one transaction; it returns the live sessions it ended. ErrNotFound
	// when there is no such user.
	DeleteUser(ctx context.Context, userID string, now time.Time) ([]string, error)
	// AuditEvents returns at most limit events q selects, newest first (by
	// at, then id, descending), after q.After.
	AuditEvents(ctx context.Context, q AuditQuery, limit int) ([]AuditEvent, error)
	// CountAuditEvents counts the events q selects (q.After aside).
	CountAuditEvents(ctx context.Context, q AuditQuery) (int, error)
	// Stats counts users and live sessions at now, and events since since.
	Stats(ctx context.Context, now, since time.Time) (Stats, error)
}

// AdminSession is a session as an administrator sees it: live or ended.
type AdminSession struct {
	ID             string
	UserID         string
	Description    *string
	UserAgent      *string
	IP             *string
	CreatedAt      time.Time
	LastActivityAt time.Time
	ExpiresAt      time.Time
	// EndedAt is when it was revoked (nil: not revoked); EndReason why.
	EndedAt   *time.Time
	EndReason *string
	// Live: neither revoked, expired nor older than its user's cut-off.
	Live bool
}

// UserFacts are what an administrator sees of a user beyond its record.
type UserFacts struct {
	// LastSignInAt is the latest sign-in or sign-up the audit trail holds
	// (nil: none).
	LastSignInAt *time.Time
	// EmailVerifiedAt is when the user proved its address (nil: not yet).
	EmailVerifiedAt *time.Time
}

// UserDetail is a user as the admin API shows one.
type UserDetail struct {
	User
	UserFacts
}

// Stats are the admin dashboard's figures. Refreshes is nil unless every
// refresh is audited (AUTHGATE_AUDIT_REFRESHES): only then is it known.
type Stats struct {
	Users        int
	LiveSessions int
	SignIns      int
	Refreshes    *int
	FailedLogins int
	Lockouts     int
	// Since is the start of the span the event counts cover.
	Since time.Time
}

// PageKey is a position in a newest-first list: the last item's instant
// and id. The zero key is the start of the list.
type PageKey struct {
	At time.Time
	ID string
}

// IsZero reports whether k is the start of the list.
func (k PageKey) IsZero() bool { return k.ID == "" }

// Cursor is k as an opaque string a client hands back for the next page.
func (k PageKey) Cursor() string {
	return base64.RawURLEncoding.EncodeToString([]byte("1:" + strconv.FormatInt(k.At.UnixMicro(), 10) + ":" + k.ID))
}

// parseCursor reads a cursor ("": the start). Errors: BAD_USER_INPUT.
func parseCursor(c string) (PageKey, error) {
	if c == "" {
		return PageKey{}, nil
	}
	bad := badInput("the cursor is not one this server handed out")
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return PageKey{}, bad
	}
	parts := strings.SplitN(string(raw), ":", 3)
	if len(parts) != 3 || parts[0] != "1" || parts[2] == "" || len(parts[2]) > 64 {
		return PageKey{}, bad
	}
	us, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return PageKey{}, bad
	}
	return PageKey{At: time.UnixMicro(us).UTC(), ID: parts[2]}, nil
}

// Page sizes of the admin API's lists.
const (
	DefaultPageSize = 50
	MaxPageSize     = 200
)

func pageSize(first *int) (int, error) {
	if first == nil {
		return DefaultPageSize, nil
	}
	if *first < 1 || *first > MaxPageSize {
		return 0, badInput(fmt.Sprintf("first must be 1 to %d", MaxPageSize))
	}
	return *first, nil
}

// UserPage is one page of Users.
type UserPage struct {
	Users       []User
	HasNextPage bool
	// Search is the normalised search the page was made with (TotalCount
	// counts its matches).
	Search string
}

// Users returns a page of the users whose email contains search (all when
// it is empty), newest first, first of them (DefaultPageSize when nil)
// after the cursor after. A page's cursors stay valid while users come
// and go: users created meanwhile are newer and never shift a later page.
// Errors: BAD_USER_INPUT (first out of range, a bad cursor), UNAVAILABLE.
func (s *Service) Users(ctx context.Context, search string, first *int, after string) (UserPage, error) {
	n, err := pageSize(first)
	if err != nil {
		return UserPage{}, err
	}
	key, err := parseCursor(after)
	if err != nil {
		return UserPage{}, err
	}
	search = strings.ToLower(strings.TrimSpace(search))
	if len(search) > maxEmailLength {
		return UserPage{}, badInput(fmt.Sprintf("the search must be at most %d bytes", maxEmailLength))
	}
	if !key.IsZero() && !isUUID(key.ID) {
		return UserPage{}, badInput("the cursor is not one this server handed out")
	}
	recs, err := s.store.UsersPage(ctx, search, key, n+1)
	if err != nil {
		return UserPage{}, err
	}
	page := UserPage{HasNextPage: len(recs) > n, Search: search}
	for _, r := range recs[:min(len(recs), n)] {
		page.Users = append(page.Users, r.User)
	}
	return page, nil
}

// CountUsers counts the users whose email contains search (as Users
// normalised it). Errors: UNAVAILABLE.
func (s *Service) CountUsers(ctx context.Context, search string) (int, error) {
	return s.store.CountUsers(ctx, search)
}

// UserCursor is the cursor of u in Users' lists.
func UserCursor(u User) string { return PageKey{At: u.CreatedAt, ID: u.ID}.Cursor() }

// User returns the user with this id, or else with this email (exactly one
// of them given), with its last sign-in; nil when there is none.
// Errors: BAD_USER_INPUT (neither or both given, a malformed email),
// UNAVAILABLE.
func (s *Service) User(ctx context.Context, id, email string) (*UserDetail, error) {
	if (id == "") == (email == "") {
		return nil, badInput("give the user's id or its email")
	}
	who := id
	if email != "" {
		if !strings.Contains(email, "@") {
			return nil, badInput("that is not an email address")
		}
		who = email
	} else if strings.Contains(id, "@") {
		return nil, nil
	}
	u, err := s.findUser(ctx, who)
	if CodeOf(err) == CodeNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	facts, err := s.UserFacts(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	return &UserDetail{User: u.User, UserFacts: facts}, nil
}

// UserFacts reads a user's last sign-in and its email's verification
// (zero for a user that does not exist). Errors: UNAVAILABLE.
func (s *Service) UserFacts(ctx context.Context, userID string) (UserFacts, error) {
	if !isUUID(userID) {
		return UserFacts{}, nil
	}
	return s.store.UserFacts(ctx, strings.ToLower(userID))
}

// UserSessions lists a user's sessions, newest first: the live ones, and
// with includeEnded also the ended ones not yet purged. A user that does
// not exist has none. Errors: UNAVAILABLE.
func (s *Service) UserSessions(ctx context.Context, userID string, includeEnded bool) ([]AdminSession, error) {
	if !isUUID(userID) {
		return []AdminSession{}, nil
	}
	return s.store.UserSessions(ctx, strings.ToLower(userID), includeEnded, s.clock.Now())
}

// AuditQuery selects audit events; empty fields select everything.
type AuditQuery struct {
	// UserID: the user's events. Email: the events of the user who has (or,
	// deleted, had) this email, and failed attempts on it.
	UserID, Email string
	Event         string
	Actor         string
	// Since: events at or after it.
	Since time.Time
	// After is the position the page starts after.
	After PageKey
}

// AuditPage is one page of AuditEvents.
type AuditPage struct {
	Events      []AuditEvent
	HasNextPage bool
	// Query is the normalised query (CountAuditEvents counts its matches).
	Query AuditQuery
}

// AuditEvents returns a page of the audit events q selects, newest first,
// first of them (DefaultPageSize when nil) after the cursor after.
// Errors: BAD_USER_INPUT (a malformed email or id, first out of range, a
// bad cursor), UNAVAILABLE.
func (s *Service) AuditEvents(ctx context.Context, q AuditQuery, first *int, after string) (AuditPage, error) {
	n, err := pageSize(first)
	if err != nil {
		return AuditPage{}, err
	}
	if q.After, err = parseCursor(after); err != nil {
		return AuditPage{}, err
	}
	if !q.After.IsZero() {
		if _, err := strconv.ParseInt(q.After.ID, 10, 64); err != nil {
			return AuditPage{}, badInput("the cursor is not one this server handed out")
		}
	}
	if q.UserID != "" && !isUUID(q.UserID) {
		return AuditPage{}, badInput("userId is not a user id")
	}
	q.UserID = strings.ToLower(q.UserID)
	if q.Email != "" {
		if q.Email, err = NormalizeEmail(q.Email); err != nil {
			return AuditPage{}, err
		}
	}
	if len(q.Event) > 64 || len(q.Actor) > 64 {
		return AuditPage{}, badInput("event and actor are at most 64 bytes")
	}
	events, err := s.store.AuditEvents(ctx, q, n+1)
	if err != nil {
		return AuditPage{}, err
	}
	return AuditPage{Events: events[:min(len(events), n)], HasNextPage: len(events) > n, Query: q}, nil
}

// CountAuditEvents counts the events q selects (as AuditEvents normalised
// it). Errors: UNAVAILABLE.
func (s *Service) CountAuditEvents(ctx context.Context, q AuditQuery) (int, error) {
	q.After = PageKey{}
	return s.store.CountAuditEvents(ctx, q)
}

// AuditCursor is the cursor of e in AuditEvents' lists.
func AuditCursor(e AuditEvent) string {
	return PageKey{At: e.At, ID: strconv.FormatInt(e.ID, 10)}.Cursor()
}

// Stats returns the dashboard's figures: users, live sessions, and the
// sign-ins, refreshes (when audited), failed logins and lockouts of the
// last 24 hours. Errors: UNAVAILABLE.
func (s *Service) Stats(ctx context.Context) (Stats, error) {
	now := s.clock.Now()
	st, err := s.store.Stats(ctx, now, now.Add(-lastDay))
	if err != nil {
		return Stats{}, err
	}
	if !s.cfg.AuditRefreshes {
		st.Refreshes = nil
	}
	return st, nil
}

// Banned reports whether u is banned now.
func (s *Service) Banned(u User) bool { return banned(u, s.clock.Now()) }

// Now is the service's clock reading (the console's idle timeout uses it).
func (s *Service) Now() time.Time { return s.clock.Now() }
