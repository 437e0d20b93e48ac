package auth

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// The administrative operations below are shared by the command line and
// the admin API: each names its user by `who`, the user's id or its email
// (an email holds an '@', an id never does), so that both doors call the
// same method with the same rules and errors.

// Actors that are not a user: who made an administrative change, as the
// audit trail records it (an administrator signed in to the admin API or
// the console is recorded by its user id).
const (
	ActorAdminSecret = "admin_secret"
	ActorCLI         = "cli"
)

type actorKey struct{}

// WithActor returns ctx carrying who performs the administrative operations
// made with it: ActorAdminSecret, ActorCLI or an administrator's user id.
// The store records it on every audit row those operations write.
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

// ActorFrom returns the actor stored by WithActor ("" when none: a user
// acting on its own account).
func ActorFrom(ctx context.Context) string {
	a, _ := ctx.Value(actorKey{}).(string)
	return a
}

// AddUser creates a user from the command line or the admin API, without a
// session. An empty defaultRole means "user"; the default role is always
// among the allowed ones. Errors: BAD_USER_INPUT, WEAK_PASSWORD,
// EMAIL_TAKEN, UNAVAILABLE.
func (s *Service) AddUser(ctx context.Context, email, pw, defaultRole string, allowedRoles []string) (User, error) {
	email, err := NormalizeEmail(email)
	if err != nil {
		return User{}, err
	}
	if err := checkNewPassword(pw); err != nil {
		return User{}, err
	}
	if defaultRole == "" {
		defaultRole = "user"
	}
	roles, err := normalizeRoles(defaultRole, allowedRoles)
	if err != nil {
		return User{}, err
	}
	hash, err := s.hashPassword(ctx, pw)
	if err != nil {
		return User{}, err
	}
	u, _, err := s.store.CreateUserWithSession(ctx, NewUser{
		Email: email, PasswordHash: hash, DefaultRole: defaultRole, AllowedRoles: roles, Now: s.clock.Now(),
	}, nil)
	return u.User, err
}

// UserUpdate is an administrative change to a user; nil fields stay as
// they are.
type UserUpdate struct {
	// DefaultRole and AllowedRoles replace the roles: the default role is
	// always among the allowed ones (given alone, it is added to them;
	// AllowedRoles alone keep the current default role).
	DefaultRole  *string
	AllowedRoles []string
	// Claims, when not nil, replaces the custom claims (empty: none).
	Claims map[string]string
	// Email, when set, replaces the address the user signs in with.
	Email *string
	// Disabled disables (ending every session, as SetUserDisabled does) or
	// enables the user.
	Disabled *bool
}

// UpdateUser applies u to the user who names (its id or email), every
// check made before anything changes, and returns the user as it is then.
// Roles and claims reach clients at their next refresh; disabling ends
// every session at once.
// Errors: BAD_USER_INPUT, NOT_FOUND, EMAIL_TAKEN, UNAVAILABLE.
func (s *Service) UpdateUser(ctx context.Context, who string, u UserUpdate) (User, error) {
	var change UserChange
	if u.Claims != nil {
		claims, err := normalizeClaims(u.Claims)
		if err != nil {
			return User{}, err
		}
		change.Claims = claims
	}
	if u.Email != nil {
		email, err := NormalizeEmail(*u.Email)
		if err != nil {
			return User{}, err
		}
		change.Email = &email
	}
	if u.DefaultRole != nil {
		if err := checkRole(strings.TrimSpace(*u.DefaultRole)); err != nil {
			return User{}, err
		}
	}
	for _, r := range u.AllowedRoles {
		if r = strings.TrimSpace(r); r != "" {
			if err := checkRole(r); err != nil {
				return User{}, err
			}
		}
	}
	rec, err := s.findUser(ctx, who)
	if err != nil {
		return User{}, err
	}
	if u.DefaultRole != nil || u.AllowedRoles != nil {
		def, allowed := rec.DefaultRole, rec.AllowedRoles
		if u.DefaultRole != nil {
			def = *u.DefaultRole
		}
		if u.AllowedRoles != nil {
			allowed = u.AllowedRoles
		}
		roles, err := normalizeRoles(def, allowed)
		if err != nil {
			return User{}, err
		}
		change.DefaultRole, change.AllowedRoles = &roles[0], roles
	}
	if u.Disabled != nil && !*u.Disabled {
		change.Disabled = u.Disabled
	}
	if change.DefaultRole != nil || change.Claims != nil || change.Email != nil || change.Disabled != nil {
		change.Now = s.clock.Now()
		if rec, err = s.store.UpdateUser(ctx, rec.ID, change); err != nil {
			return User{}, noUserWith(who, err)
		}
	}
	if u.Disabled != nil && *u.Disabled {
		if _, err := s.cutOff(ctx, rec.ID, CutOff{Now: s.clock.Now(), Reason: "user disabled", Disable: u.Disabled}); err != nil {
			return User{}, noUserWith(who, err)
		}
		rec.Disabled = true
	}
	return rec.User, nil
}

// SetUserDisabled disables or re-enables the user who names (its id or
// email). Disabling also moves the user's cut-off (every token dies) and
// ends every session. Errors: BAD_USER_INPUT, NOT_FOUND, UNAVAILABLE.
func (s *Service) SetUserDisabled(ctx context.Context, who string, disabled bool) error {
	_, err := s.UpdateUser(ctx, who, UserUpdate{Disabled: &disabled})
	return err
}

// SetUserRoles replaces a user's roles; they reach clients at the next
// refresh. Errors: BAD_USER_INPUT, NOT_FOUND, UNAVAILABLE.
func (s *Service) SetUserRoles(ctx context.Context, who, defaultRole string, allowedRoles []string) error {
	if allowedRoles == nil {
		allowedRoles = []string{}
	}
	_, err := s.UpdateUser(ctx, who, UserUpdate{DefaultRole: &defaultRole, AllowedRoles: allowedRoles})
	return err
}

// RevokeUserSessions moves the user's cut-off to now (every token dies),
// ends every live session and returns how many. Errors: BAD_USER_INPUT,
// NOT_FOUND, UNAVAILABLE.
func (s *Service) RevokeUserSessions(ctx context.Context, who string) (int, error) {
	return s.cutOffUser(ctx, who, CutOff{Now: s.clock.Now(), Reason: "sessions revoked by an administrator"})
}

// EndSession ends one live session of any user, as an administrator does
// for a stolen device; its tokens die at once on every instance.
// Errors: NOT_FOUND (no live session has this id), UNAVAILABLE.
func (s *Service) EndSession(ctx context.Context, sessionID string) error {
	if !isUUID(sessionID) {
		return noSuchSession(sessionID)
	}
	now := s.clock.Now()
	if err := s.store.EndSession(ctx, sessionID, now); err != nil {
		if CodeOf(err) == CodeNotFound {
			return noSuchSession(sessionID)
		}
		return err
	}
	s.revocations.SessionsEnded(now, sessionID)
	return nil
}

func noSuchSession(id string) error {
	return &Error{Code: CodeNotFound, Message: fmt.Sprintf("no live session has the id %q", truncateText(id, 64))}
}

// DeleteUser deletes the user who names (its id or email) and its
// sessions, which end at once on every instance (every token it holds dies
// with them), and returns how many live sessions it ended; its audit rows
// stay, found by its id or by the email it had.
// Errors: BAD_USER_INPUT, NOT_FOUND, UNAVAILABLE.
func (s *Service) DeleteUser(ctx context.Context, who string) (int, error) {
	u, err := s.findUser(ctx, who)
	if err != nil {
		return 0, err
	}
	now := s.clock.Now()
	ended, err := s.store.DeleteUser(ctx, u.ID, now)
	if err != nil {
		return 0, noUserWith(who, err)
	}
	// Every token of the user dies, those of this second too (see
	// AdminStore.DeleteUser): no sign-in can follow.
	s.revocations.CutOff(u.ID, now.Add(time.Second))
	s.revocations.SessionsEnded(now, ended...)
	return len(ended), nil
}

// findUser finds the user who names: its id, or its email.
func (s *Service) findUser(ctx context.Context, who string) (UserRecord, error) {
	if strings.Contains(who, "@") {
		return s.userByEmail(ctx, who)
	}
	if !isUUID(who) {
		return UserRecord{}, noUserWith(who, ErrNotFound)
	}
	u, err := s.store.UserByID(ctx, strings.ToLower(who))
	return u, noUserWith(who, err)
}

// noUserWith names the missing user in a NOT_FOUND from a lookup by id or
// email, so that an administrator sees what was not found; other errors
// pass.
func noUserWith(who string, err error) error {
	if CodeOf(err) != CodeNotFound {
		return err
	}
	if strings.Contains(who, "@") {
		if email, nerr := NormalizeEmail(who); nerr == nil {
			who = email
		}
		return &Error{Code: CodeNotFound, Message: "no user with the email " + who, Err: err}
	}
	return &Error{Code: CodeNotFound, Message: fmt.Sprintf("no user with the id %q", truncateText(who, 64)), Err: err}
}

func truncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// MaxListedUsers bounds one ListUsers answer.
const MaxListedUsers = 1000

// ListUsers returns the users whose email contains search (all when it is
// empty), by email, at most MaxListedUsers, and whether more matched: the
// command line's list. The admin API pages with Users.
// Errors: UNAVAILABLE.
func (s *Service) ListUsers(ctx context.Context, search string) ([]User, bool, error) {
	recs, err := s.store.ListUsers(ctx, strings.ToLower(strings.TrimSpace(search)), MaxListedUsers+1)
	if err != nil {
		return nil, false, err
	}
	more := len(recs) > MaxListedUsers
	users := make([]User, 0, min(len(recs), MaxListedUsers))
	for _, r := range recs[:min(len(recs), MaxListedUsers)] {
		users = append(users, r.User)
	}
	return users, more, nil
}

// SetUserPassword replaces a user's password, as an administrator does for
// a user who cannot sign in: like changePassword, it moves the user's
// cut-off and ends every session, and returns how many it ended.
// Errors: BAD_USER_INPUT, WEAK_PASSWORD, NOT_FOUND, RATE_LIMITED (hashing
// busy), UNAVAILABLE.
func (s *Service) SetUserPassword(ctx context.Context, who, pw string) (int, error) {
	if err := checkNewPassword(pw); err != nil {
		return 0, err
	}
	u, err := s.findUser(ctx, who)
	if err != nil {
		return 0, err
	}
	hash, err := s.hashPassword(ctx, pw)
	if err != nil {
		return 0, err
	}
	now := s.clock.Now()
	ended, err := s.store.SetPassword(ctx, u.ID, hash, now)
	if err != nil {
		return 0, noUserWith(who, err)
	}
	s.revocations.CutOff(u.ID, now)
	s.revocations.SessionsEnded(now, ended...)
	return len(ended), nil
}

// normalizeRoles trims and de-duplicates roles and makes sure the default
// role is among them.
func normalizeRoles(defaultRole string, allowed []string) ([]string, error) {
	defaultRole = strings.TrimSpace(defaultRole)
	if err := checkRole(defaultRole); err != nil {
		return nil, err
	}
	roles := []string{defaultRole}
	seen := map[string]bool{defaultRole: true}
	for _, r := range allowed {
		r = strings.TrimSpace(r)
		if r == "" || seen[r] {
			continue
		}
		if err := checkRole(r); err != nil {
			return nil, err
		}
		seen[r] = true
		roles = append(roles, r)
	}
	return roles, nil
}

func checkRole(r string) error {
	if r == "" || len(r) > maxRoleLength {
		return badInput(fmt.Sprintf("a role must be 1 to %d characters", maxRoleLength))
	}
	for _, c := range r {
		if !(c == '_' || c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return badInput(fmt.Sprintf("role %q may hold only letters, digits, '_' and '-'", r))
		}
	}
	return nil
}

// AuthorizeAdmin decides whether the bearer-token caller in ctx may use the
// admin API: the role it acts as (requestedRole, the X-Hasura-Role it asked
// for, else its default role) must be one of adminRoles and, as the
// database has the user now, one of its roles, so that taking the role away
// ends its power at once rather than at its token's expiry. It returns the
// caller's user id, the actor of what it does.
// Errors: UNAUTHENTICATED (no valid token, with its reason; a user gone or
// disabled), FORBIDDEN (not an administrative role, or not the caller's),
// UNAVAILABLE.
func (s *Service) AuthorizeAdmin(ctx context.Context, requestedRole string, adminRoles []string) (string, error) {
	p, err := PrincipalFrom(ctx)
	if err != nil {
		return "", err
	}
	u, err := s.store.UserByID(ctx, p.UserID)
	if CodeOf(err) == CodeNotFound || err == nil && (u.Disabled || banned(u.User, s.clock.Now())) {
		return "", ErrUnauthenticated
	}
	if err != nil {
		return "", err
	}
	role := u.DefaultRole
	if requestedRole != "" {
		if !contains(u.AllowedRoles, requestedRole) {
			return "", &Error{Code: CodeForbidden, Message: fmt.Sprintf("role %q is not one of the caller's roles", truncateText(requestedRole, 64))}
		}
		role = requestedRole
	}
	if !contains(adminRoles, role) {
		return "", &Error{Code: CodeForbidden, Message: fmt.Sprintf("role %q may not administer authgate (AUTHGATE_ADMIN_ROLES)", truncateText(role, 64))}
	}
	return u.ID, nil
}

// AuthorizeConsole checks a signed-in console's session: sessionID must
// still be a live session of userID, and one of the user's roles one of
// adminRoles; it returns the user. Errors: UNAUTHENTICATED (the session
// ended, the user is gone, disabled or banned), FORBIDDEN (no
// administrative role any more), UNAVAILABLE.
func (s *Service) AuthorizeConsole(ctx context.Context, userID, sessionID string, adminRoles []string) (User, error) {
	if !isUUID(userID) || !isUUID(sessionID) {
		return User{}, ErrUnauthenticated
	}
	live, err := s.store.SessionIsLive(ctx, userID, sessionID, s.clock.Now())
	if err != nil {
		return User{}, err
	}
	if !live {
		return User{}, ErrUnauthenticated
	}
	u, err := s.store.UserByID(ctx, userID)
	if err != nil {
		return User{}, authError(err)
	}
	if !IsAdmin(u.User, adminRoles) {
		return User{}, &Error{Code: CodeForbidden, Message: "this account has no administrative role"}
	}
	return u.User, nil
}

// IsAdmin reports whether one of u's roles is one of adminRoles.
func IsAdmin(u User, adminRoles []string) bool {
	for _, r := range u.AllowedRoles {
		if contains(adminRoles, r) {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// lastDay is the span Stats counts events over.
const lastDay = 24 * time.Hour
