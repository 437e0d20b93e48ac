package auth

import (
	"context"
	"fmt"
	"strings"
)

// AddUser creates a user from the command line, without a session. An empty
// defaultRole means "user"; the default role is always among the allowed ones.
// Errors: BAD_USER_INPUT, WEAK_PASSWORD, EMAIL_TAKEN, UNAVAILABLE.
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

// SetUserDisabled disables or re-enables the user with this email. Disabling
// also moves the user's cut-off (every token dies) and ends every session.
// Errors: BAD_USER_INPUT, NOT_FOUND, UNAVAILABLE.
func (s *Service) SetUserDisabled(ctx context.Context, email string, disabled bool) error {
	if !disabled {
		_, err := s.updateUser(ctx, email, UserChange{Disabled: &disabled})
		return err
	}
	_, err := s.cutOffByEmail(ctx, email, CutOff{Now: s.clock.Now(), Reason: "user disabled", Disable: &disabled})
	return err
}

// SetUserRoles replaces a user's roles; they reach clients at the next
// refresh. Errors: BAD_USER_INPUT, NOT_FOUND, UNAVAILABLE.
func (s *Service) SetUserRoles(ctx context.Context, email, defaultRole string, allowedRoles []string) error {
	roles, err := normalizeRoles(defaultRole, allowedRoles)
	if err != nil {
		return err
	}
	_, err = s.updateUser(ctx, email, UserChange{DefaultRole: &roles[0], AllowedRoles: roles})
	return err
}

// RevokeUserSessions moves the user's cut-off to now (every token dies),
// ends every live session and returns how many. Errors: BAD_USER_INPUT,
// NOT_FOUND, UNAVAILABLE.
func (s *Service) RevokeUserSessions(ctx context.Context, email string) (int, error) {
	return s.cutOffByEmail(ctx, email, CutOff{Now: s.clock.Now(), Reason: "sessions revoked by an administrator"})
}

func (s *Service) updateUser(ctx context.Context, email string, change UserChange) (UserRecord, error) {
	email, err := NormalizeEmail(email)
	if err != nil {
		return UserRecord{}, err
	}
	change.Now = s.clock.Now()
	u, err := s.store.UpdateUser(ctx, email, change)
	return u, noUserWith(email, err)
}

// noUserWith names the missing user in a NOT_FOUND from a lookup by email,
// so that an administrator sees what was not found; other errors pass.
func noUserWith(email string, err error) error {
	if CodeOf(err) == CodeNotFound {
		return &Error{Code: CodeNotFound, Message: "no user with the email " + email, Err: err}
	}
	return err
}

// MaxListedUsers bounds one ListUsers answer.
const MaxListedUsers = 1000

// ListUsers returns the users whose email contains search (all when it is
// empty), by email, at most MaxListedUsers, and whether more matched.
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
func (s *Service) SetUserPassword(ctx context.Context, email, pw string) (int, error) {
	if err := checkNewPassword(pw); err != nil {
		return 0, err
	}
	u, err := s.userByEmail(ctx, email)
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
		return 0, noUserWith(u.Email, err)
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
