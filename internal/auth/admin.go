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
	return s.store.UpdateUser(ctx, email, change)
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
