package auth

import (
	"context"
	"errors"
	"strings"

	"authgate/internal/password"
)

// maxImportedHashLength bounds a password hash brought from elsewhere.
const maxImportedHashLength = 1024

// ImportedUser is a user brought over from another system with its password
// hash as it was.
type ImportedUser struct {
	Email string
	// PasswordHash is a bcrypt hash ($2a$, $2b$ or $2y$, as pgcrypto's
	// crypt(pw, gen_salt('bf')) makes) or an argon2id PHC string.
	PasswordHash string
	// DefaultRole is "user" when empty; it is always among AllowedRoles.
	DefaultRole  string
	AllowedRoles []string
	Enabled      bool
	// EmailVerified imports the address as verified (user import
	// --verified); else it is unverified, like every address until its
	// owner proves it.
	EmailVerified bool
}

// ImportUser creates a user with a password hash made elsewhere, stored as
// it is: the first successful sign-in re-hashes the password with the
// current argon2id parameters. No password is hashed here.
// Errors: BAD_USER_INPUT (email, hash or roles), EMAIL_TAKEN, UNAVAILABLE.
func (s *Service) ImportUser(ctx context.Context, in ImportedUser) (User, error) {
	email, err := NormalizeEmail(in.Email)
	if err != nil {
		return User{}, err
	}
	if err := s.checkImportedHash(in.PasswordHash); err != nil {
		return User{}, err
	}
	defaultRole := in.DefaultRole
	if defaultRole == "" {
		defaultRole = "user"
	}
	roles, err := normalizeRoles(defaultRole, in.AllowedRoles)
	if err != nil {
		return User{}, err
	}
	u, _, err := s.store.CreateUserWithSession(ctx, NewUser{
		Email: email, PasswordHash: in.PasswordHash, DefaultRole: roles[0], AllowedRoles: roles,
		Now: s.clock.Now(), Disabled: !in.Enabled, Imported: true, EmailVerified: in.EmailVerified,
	}, nil)
	return u.User, err
}

// checkImportedHash accepts exactly the hashes a sign-in can verify, by
// asking the hasher itself, without hashing: Verify parses a hash (and
// refuses a malformed one) before it waits for a hashing slot, and a
// context that has already ended gets none.
func (s *Service) checkImportedHash(encoded string) error {
	if !strings.HasPrefix(encoded, "$2a$") && !strings.HasPrefix(encoded, "$2b$") &&
		!strings.HasPrefix(encoded, "$2y$") && !strings.HasPrefix(encoded, "$argon2id$") {
		return badInput("password_hash: unknown hash format (want bcrypt $2a$/$2b$/$2y$ or $argon2id$)")
	}
	if len(encoded) > maxImportedHashLength {
		return badInput("password_hash: too long")
	}
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err := s.hasher.Verify(ended, encoded, "")
	if errors.Is(err, password.ErrMalformedHash) {
		return badInput("password_hash: " + strings.TrimPrefix(err.Error(), password.ErrMalformedHash.Error()+": "))
	}
	return nil
}
