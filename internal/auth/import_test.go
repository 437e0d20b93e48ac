package auth_test

import (
	"crypto/rand"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"authgate/internal/auth"
	"authgate/internal/authtest"
	"authgate/internal/password"
)

// pgcryptoHash hashes pw the way the hasura-jwt-auth SQL does,
// crypt(pw, gen_salt('bf')), in the test database; without pgcrypto it
// falls back to Go's bcrypt (same $2a$ format).
func pgcryptoHash(t *testing.T, env *authtest.Env, pw string) string {
	t.Helper()
	var hash string
	if _, err := env.Store.DB().Exec(`CREATE EXTENSION IF NOT EXISTS pgcrypto`); err == nil {
		if err := env.Store.DB().Get(&hash, `SELECT crypt($1, gen_salt('bf'))`, pw); err != nil {
			t.Fatal(err)
		}
		return hash
	}
	t.Logf("pgcrypto is not available: hashing with golang.org/x/crypto/bcrypt")
	if len(pw) > 72 {
		pw = pw[:72] // what crypt() does silently
	}
	b, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.DefaultCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func storedHash(t *testing.T, env *authtest.Env, email string) string {
	t.Helper()
	var h string
	if err := env.Store.DB().Get(&h, `SELECT password_hash FROM auth.users WHERE email = $1`, email); err != nil {
		t.Fatal(err)
	}
	return h
}

func TestImportedBcryptHashIsUpgradedToArgon2idAtTheFirstLogin(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	hash := pgcryptoHash(t, env, "correct horse")
	if !strings.HasPrefix(hash, "$2a$") {
		t.Fatalf("pgcrypto made %.4s…, want $2a$", hash)
	}
	u, err := env.Service.ImportUser(bg, auth.ImportedUser{
		Email: "Old@Example.com", PasswordHash: hash, DefaultRole: "editor", AllowedRoles: []string{"user"}, Enabled: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if u.Email != "old@example.com" || strings.Join(u.AllowedRoles, ",") != "editor,user" {
		t.Fatalf("imported %+v", u)
	}
	if got := storedHash(t, env, "old@example.com"); got != hash {
		t.Fatalf("the hash was not stored as it is: %.10s…", got)
	}
	_, err = env.Service.Login(bg, "old@example.com", "wrong horse", nil)
	wantCode(t, err, auth.CodeInvalidCredentials)
	if got := storedHash(t, env, "old@example.com"); got != hash {
		t.Fatal("a failed login changed the hash")
	}
	if _, err := env.Service.Login(bg, "old@example.com", "correct horse", nil); err != nil {
		t.Fatal(err)
	}
	upgraded := storedHash(t, env, "old@example.com")
	if !strings.HasPrefix(upgraded, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("after the first login the hash is %.30s…, want argon2id with the service's parameters", upgraded)
	}
	if _, err := env.Service.Login(bg, "old@example.com", "correct horse", nil); err != nil {
		t.Fatalf("login with the upgraded hash: %v", err)
	}
	if got := storedHash(t, env, "old@example.com"); got != upgraded {
		t.Fatal("a current hash was re-hashed again")
	}
	trail, err := env.Service.AuditTrail(bg, "old@example.com", authtest.Start)
	if err != nil {
		t.Fatal(err)
	}
	if len(trail) != 4 || trail[0].Event != auth.EventUserCreated || trail[0].Detail["imported"] != true ||
		trail[2].Detail["rehashed"] != true || trail[3].Detail["rehashed"] != nil {
		t.Fatalf("trail = %+v", trail)
	}
}

// bcrypt reads 72 bytes of a password. pgcrypto's crypt() silently hashed
// only those; a login must not match on them with anything after.
func TestBcryptSeventyTwoByteLimitIsNoSilentTruncationMatch(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	prefix := strings.Repeat("0123456789abcdef", 5)[:72]
	original := prefix + " and the rest of a long passphrase"
	if _, err := env.Service.ImportUser(bg, auth.ImportedUser{
		Email: "long@example.com", PasswordHash: pgcryptoHash(t, env, original), Enabled: true,
	}); err != nil {
		t.Fatal(err)
	}
	for _, pw := range []string{original, prefix + "x", prefix + " and anything"} {
		_, err := env.Service.Login(bg, "long@example.com", pw, nil)
		wantCode(t, err, auth.CodeInvalidCredentials)
	}
	if !strings.HasPrefix(storedHash(t, env, "long@example.com"), "$2a$") {
		t.Fatal("a refused password upgraded the hash")
	}
	// Exactly the 72 bytes bcrypt hashed is the password it knows.
	if _, err := env.Service.Login(bg, "long@example.com", prefix, nil); err != nil {
		t.Fatal(err)
	}
}

func TestImportRefusesWhatASignInCouldNotUse(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	good := pgcryptoHash(t, env, "correct horse")
	if _, err := env.Service.ImportUser(bg, auth.ImportedUser{Email: "taken@example.com", PasswordHash: good, Enabled: true}); err != nil {
		t.Fatal(err)
	}
	argon, err := password.New(authtest.CheapParams, 1, rand.Reader).Hash(bg, "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		in   auth.ImportedUser
		code auth.Code
	}{
		{"bad email", auth.ImportedUser{Email: "nobody", PasswordHash: good}, auth.CodeBadUserInput},
		{"plaintext password", auth.ImportedUser{Email: "a@example.com", PasswordHash: "correct horse"}, auth.CodeBadUserInput},
		{"md5 crypt", auth.ImportedUser{Email: "a@example.com", PasswordHash: "$1$abcdefgh$0123456789abcdefghijkl"}, auth.CodeBadUserInput},
		{"truncated bcrypt", auth.ImportedUser{Email: "a@example.com", PasswordHash: good[:40]}, auth.CodeBadUserInput},
		{"bcrypt cost 31", auth.ImportedUser{Email: "a@example.com", PasswordHash: "$2a$31$" + good[7:]}, auth.CodeBadUserInput},
		{"argon2id of a gigantic cost", auth.ImportedUser{Email: "a@example.com",
			PasswordHash: strings.Replace(argon, "m=64,", "m=99999999,", 1)}, auth.CodeBadUserInput},
		{"bad role", auth.ImportedUser{Email: "a@example.com", PasswordHash: good, DefaultRole: "ad min"}, auth.CodeBadUserInput},
		{"duplicate email", auth.ImportedUser{Email: "TAKEN@example.com", PasswordHash: good}, auth.CodeEmailTaken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := env.Service.ImportUser(bg, tc.in)
			wantCode(t, err, tc.code)
		})
	}
	if _, err := env.Service.ImportUser(bg, auth.ImportedUser{Email: "argon@example.com", PasswordHash: argon, Enabled: true}); err != nil {
		t.Fatalf("an argon2id hash: %v", err)
	}
	// A disabled import still needs its correct password before it says so.
	if _, err := env.Service.ImportUser(bg, auth.ImportedUser{Email: "off@example.com", PasswordHash: good}); err != nil {
		t.Fatal(err)
	}
	_, err = env.Service.Login(bg, "off@example.com", "wrong horse", nil)
	wantCode(t, err, auth.CodeInvalidCredentials)
	_, err = env.Service.Login(bg, "off@example.com", "correct horse", nil)
	wantCode(t, err, auth.CodeUserDisabled)
}

func TestLoginWithOutdatedParametersRehashes(t *testing.T) {
	env := authtest.New(t, auth.Config{})
	env.Signup(t, "a@example.com", "correct horse")
	before := storedHash(t, env, "a@example.com")
	if !strings.HasPrefix(before, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("stored %.30s…", before)
	}
	stronger := authtest.CheapParams
	stronger.MemoryKiB, stronger.Iterations = 128, 2
	svc := auth.New(env.Store, env.Revocations, env.Issuer, password.New(stronger, 2, rand.Reader), env.Keys, env.Clock, rand.Reader, env.Config)

	_, err := svc.Login(bg, "a@example.com", "wrong horse", nil)
	wantCode(t, err, auth.CodeInvalidCredentials)
	if storedHash(t, env, "a@example.com") != before {
		t.Fatal("a wrong password re-hashed")
	}
	if _, err := svc.Login(bg, "a@example.com", "correct horse", nil); err != nil {
		t.Fatal(err)
	}
	after := storedHash(t, env, "a@example.com")
	if !strings.HasPrefix(after, "$argon2id$v=19$m=128,t=2,p=1$") {
		t.Fatalf("after a login with new parameters the hash is %.30s…", after)
	}
	if _, err := svc.Login(bg, "a@example.com", "correct horse", nil); err != nil {
		t.Fatal(err)
	}
	if storedHash(t, env, "a@example.com") != after {
		t.Fatal("a current hash was re-hashed")
	}
}
