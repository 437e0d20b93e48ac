package password

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// tinyParams keeps tests fast; only TestDefaultParams uses the real cost.
func tinyParams() Params {
	return Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}
}

// Hashes made by PostgreSQL 15's pgcrypto: SELECT crypt(pw, gen_salt('bf')).
const (
	pgcryptoPassword = "correct horse battery staple"
	pgcryptoHash     = "$2a$06$JZ1pq.57n/Cop/ZHcAuN1u2bcyDVytM2gwOANW6V875FurzyLZOgi"

	pgcryptoUnicodePassword = "pässwörd ünïcode"
	pgcryptoUnicodeHash     = "$2a$06$mKjiNmjP4KCcacsqdQJGlOJkDbhacJODYNjDO2oLgR8ZHTVzRD4nW"

	// pgcrypto72Password is exactly 72 bytes, all that bcrypt reads.
	pgcrypto72Password = "0123456789012345678901234567890123456789012345678901234567890123456789ab"
	pgcrypto72Hash     = "$2a$06$bATodFoTKZOTD09DfptCd.5I.bCV6Y7n36RW6rRvtkDNTsgqPsUO2"
)

// referenceArgon2id is the argon2id test vector of the reference
// implementation (phc-winner-argon2 src/test.c) and libsodium: password
// "password", salt "somesalt", t=2, m=256 KiB, p=1, 32-byte key.
const referenceArgon2id = "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4"

func mustHash(t *testing.T, h *Hasher, password string) string {
	t.Helper()
	encoded, err := h.Hash(t.Context(), password)
	if err != nil {
		t.Fatalf("Hash: %v", err)
	}
	return encoded
}

func mustBcrypt(t *testing.T, password string, cost int) string {
	t.Helper()
	b, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		t.Fatalf("bcrypt.GenerateFromPassword: %v", err)
	}
	return string(b)
}

// countComputations makes h count the hashes it runs.
func countComputations(h *Hasher) *atomic.Int32 {
	var n atomic.Int32
	h.hooks.computing = func(string) func() {
		n.Add(1)
		return func() {}
	}
	return &n
}

func TestHashRoundTrip(t *testing.T) {
	tests := []struct {
		name     string
		password string
	}{
		{"ascii password matches its hash", "correct horse battery staple"},
		{"empty password matches its hash", ""},
		{"unicode password matches its hash", "pässwörd 密码 🔑"},
		{"password longer than 72 bytes matches its hash", strings.Repeat("long ", 200)},
		{"password with NUL bytes matches its hash", "a\x00b\x00c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := New(tinyParams(), 1, nil)
			encoded := mustHash(t, h, tt.password)
			if want := "$argon2id$v=19$m=64,t=1,p=1$"; !strings.HasPrefix(encoded, want) {
				t.Fatalf("Hash = %q, want prefix %q", encoded, want)
			}
			ok, rehash, err := h.Verify(t.Context(), encoded, tt.password)
			if err != nil || !ok || rehash {
				t.Fatalf("Verify = (%v, %v, %v), want (true, false, nil)", ok, rehash, err)
			}
		})
	}
}

func TestHashTakesSaltFromInjectedReader(t *testing.T) {
	salt := bytes.Repeat([]byte{0xA5}, 16)
	h := New(tinyParams(), 1, bytes.NewReader(salt))
	encoded := mustHash(t, h, "pw")

	key := argon2.IDKey([]byte("pw"), salt, 1, 64, 1, 32)
	want := "$argon2id$v=19$m=64,t=1,p=1$" + base64.RawStdEncoding.EncodeToString(salt) + "$" + base64.RawStdEncoding.EncodeToString(key)
	if encoded != want {
		t.Fatalf("Hash = %q, want %q", encoded, want)
	}
}

func TestHashGivesDifferentSaltsEachTime(t *testing.T) {
	h := New(tinyParams(), 1, nil)
	if a, b := mustHash(t, h, "pw"), mustHash(t, h, "pw"); a == b {
		t.Fatalf("two hashes of one password are equal: %q", a)
	}
}

func TestHashFailsWhenRandomFails(t *testing.T) {
	h := New(tinyParams(), 1, io.LimitReader(bytes.NewReader(make([]byte, 64)), 3))
	computations := countComputations(h)
	const password = "secret-password-value"
	encoded, err := h.Hash(t.Context(), password)
	if err == nil || encoded != "" {
		t.Fatalf("Hash = (%q, %v), want an error", encoded, err)
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("Hash error = %v, want it to wrap io.ErrUnexpectedEOF", err)
	}
	if strings.Contains(err.Error(), password) {
		t.Errorf("Hash error %q contains the password", err)
	}
	if n := computations.Load(); n != 0 {
		t.Errorf("hashed %d times without a salt, want 0", n)
	}
}

func TestVerifyRejectsWrongPassword(t *testing.T) {
	const password = "correct horse battery staple"
	h := New(tinyParams(), 1, nil)
	encoded := mustHash(t, h, password)
	tests := []struct {
		name  string
		guess string
	}{
		{"different password fails", "Tr0ub4dor&3"},
		{"password in other case fails", strings.ToUpper(password)},
		{"prefix of the password fails", password[:len(password)-1]},
		{"password with a byte more fails", password + " "},
		{"empty password fails", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, rehash, err := h.Verify(t.Context(), encoded, tt.guess)
			if err != nil || ok || rehash {
				t.Fatalf("Verify = (%v, %v, %v), want (false, false, nil)", ok, rehash, err)
			}
		})
	}
}

func TestVerifyReferenceVector(t *testing.T) {
	tests := []struct {
		name       string
		params     Params
		password   string
		wantOK     bool
		wantRehash bool
	}{
		{"reference vector matches with equal params and needs no rehash",
			Params{MemoryKiB: 256, Iterations: 2, Parallelism: 1, SaltLength: 8, KeyLength: 32}, "password", true, false},
		{"reference vector matches with other params and needs a rehash",
			tinyParams(), "password", true, true},
		{"reference vector refuses another password",
			tinyParams(), "Password", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, rehash, err := New(tt.params, 1, nil).Verify(t.Context(), referenceArgon2id, tt.password)
			if err != nil || ok != tt.wantOK || rehash != tt.wantRehash {
				t.Fatalf("Verify = (%v, %v, %v), want (%v, %v, nil)", ok, rehash, err, tt.wantOK, tt.wantRehash)
			}
		})
	}
}

func TestVerifyRehashWhenParamsChanged(t *testing.T) {
	stored := tinyParams()
	tests := []struct {
		name       string
		change     func(*Params)
		wantRehash bool
	}{
		{"same params need no rehash", func(*Params) {}, false},
		{"more memory needs a rehash", func(p *Params) { p.MemoryKiB = 128 }, true},
		{"more iterations need a rehash", func(p *Params) { p.Iterations = 2 }, true},
		{"more lanes need a rehash", func(p *Params) { p.Parallelism = 2 }, true},
		{"longer salt needs a rehash", func(p *Params) { p.SaltLength = 32 }, true},
		{"longer key needs a rehash", func(p *Params) { p.KeyLength = 64 }, true},
		{"weaker current params need a rehash too", func(p *Params) { p.MemoryKiB = 32 }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			encoded := mustHash(t, New(stored, 1, nil), "pw")
			current := stored
			tt.change(&current)
			h := New(current, 1, nil)

			ok, rehash, err := h.Verify(t.Context(), encoded, "pw")
			if err != nil || !ok || rehash != tt.wantRehash {
				t.Fatalf("Verify = (%v, %v, %v), want (true, %v, nil)", ok, rehash, err, tt.wantRehash)
			}
			ok, rehash, err = h.Verify(t.Context(), encoded, "other")
			if err != nil || ok || rehash {
				t.Fatalf("Verify with wrong password = (%v, %v, %v), want (false, false, nil)", ok, rehash, err)
			}
		})
	}
}

func TestVerifyBcrypt(t *testing.T) {
	tests := []struct {
		name     string
		encoded  string
		password string
		wantOK   bool
	}{
		{"pgcrypto $2a$06$ hash matches and needs a rehash", pgcryptoHash, pgcryptoPassword, true},
		{"pgcrypto $2a$06$ hash refuses another password", pgcryptoHash, "correct horse battery stapler", false},
		{"pgcrypto hash of a unicode password matches", pgcryptoUnicodeHash, pgcryptoUnicodePassword, true},
		{"pgcrypto hash of a unicode password refuses its ascii look-alike", pgcryptoUnicodeHash, "passwourd unicode", false},
		{"$2b$ spelling of the same hash matches", "$2b$" + pgcryptoHash[4:], pgcryptoPassword, true},
		{"$2y$ spelling of the same hash matches", "$2y$" + pgcryptoHash[4:], pgcryptoPassword, true},
		{"x/crypto $2a$ hash matches", mustBcrypt(t, "hunter2", bcrypt.MinCost), "hunter2", true},
		{"x/crypto $2a$ hash refuses another password", mustBcrypt(t, "hunter2", bcrypt.MinCost), "hunter3", false},
		{"x/crypto $2a$06$ hash matches", mustBcrypt(t, "pgcrypto default cost", 6), "pgcrypto default cost", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, rehash, err := New(tinyParams(), 1, nil).Verify(t.Context(), tt.encoded, tt.password)
			if err != nil || ok != tt.wantOK || rehash != tt.wantOK {
				t.Fatalf("Verify = (%v, %v, %v), want (%v, %v, nil)", ok, rehash, err, tt.wantOK, tt.wantOK)
			}
		})
	}
}

func TestVerifyBcryptRefusesPasswordsOver72Bytes(t *testing.T) {
	generated := mustBcrypt(t, pgcrypto72Password, bcrypt.MinCost)
	// The hazard this guards against: bcrypt itself accepts the longer
	// password because it reads only 72 bytes.
	if err := bcrypt.CompareHashAndPassword([]byte(pgcrypto72Hash), []byte(pgcrypto72Password+"X")); err != nil {
		t.Fatalf("bcrypt no longer ignores byte 73 (%v); this test's premise changed", err)
	}
	tests := []struct {
		name     string
		encoded  string
		password string
		wantOK   bool
	}{
		{"72-byte password matches pgcrypto hash", pgcrypto72Hash, pgcrypto72Password, true},
		{"73-byte password with the real 72 bytes first fails on pgcrypto hash", pgcrypto72Hash, pgcrypto72Password + "X", false},
		{"much longer password with the real 72 bytes first fails on pgcrypto hash", pgcrypto72Hash, pgcrypto72Password + strings.Repeat("X", 100), false},
		{"72-byte password matches x/crypto hash", generated, pgcrypto72Password, true},
		{"73-byte password with the real 72 bytes first fails on x/crypto hash", generated, pgcrypto72Password + "X", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := New(tinyParams(), 1, nil)
			computations := countComputations(h)
			ok, rehash, err := h.Verify(t.Context(), tt.encoded, tt.password)
			if err != nil || ok != tt.wantOK || rehash != tt.wantOK {
				t.Fatalf("Verify = (%v, %v, %v), want (%v, %v, nil)", ok, rehash, err, tt.wantOK, tt.wantOK)
			}
			// Refusing without hashing would tell by timing that the account
			// has a bcrypt hash.
			if n := computations.Load(); n != 1 {
				t.Errorf("ran %d hashes, want 1", n)
			}
		})
	}
}

func TestVerifyMalformed(t *testing.T) {
	valid := mustHash(t, New(tinyParams(), 1, bytes.NewReader(make([]byte, 16))), "pw")
	fields := strings.Split(valid, "$") // "", argon2id, v=19, m=64,t=1,p=1, salt, key
	salt, key := fields[4], fields[5]
	argon := func(version, costs, salt, key string) string {
		return "$argon2id$" + version + "$" + costs + "$" + salt + "$" + key
	}
	tests := []struct {
		name    string
		encoded string
	}{
		{"empty string", ""},
		{"plain text", "hunter2"},
		{"argon2i is not accepted", strings.Replace(valid, "$argon2id$", "$argon2i$", 1)},
		{"argon2d is not accepted", strings.Replace(valid, "$argon2id$", "$argon2d$", 1)},
		{"scrypt is not accepted", "$scrypt$ln=16,r=8,p=1$aM15713r3Xsvxbi31lqr1Q$nFNh2CVHVjNldFVKDHDlm4CbdRSCdEBsjjJxD+iCs5E"},
		{"missing leading dollar", valid[1:]},
		{"argon2 version 16 is not accepted", argon("v=16", "m=64,t=1,p=1", salt, key)},
		{"missing version", "$argon2id$m=64,t=1,p=1$" + salt + "$" + key},
		{"parameters out of order", argon("v=19", "t=1,m=64,p=1", salt, key)},
		{"missing parameter", argon("v=19", "m=64,t=1", salt, key)},
		{"extra keyid parameter", argon("v=19", "m=64,t=1,p=1,keyid=abc", salt, key)},
		{"non-numeric memory", argon("v=19", "m=lots,t=1,p=1", salt, key)},
		{"signed memory", argon("v=19", "m=+64,t=1,p=1", salt, key)},
		{"negative iterations", argon("v=19", "m=64,t=-1,p=1", salt, key)},
		{"memory with leading zero", argon("v=19", "m=064,t=1,p=1", salt, key)},
		{"memory overflowing 32 bits", argon("v=19", "m=4294967296,t=1,p=1", salt, key)},
		{"parallelism overflowing 8 bits", argon("v=19", "m=4096,t=1,p=256", salt, key)},
		{"empty memory", argon("v=19", "m=,t=1,p=1", salt, key)},
		{"padded base64 salt", argon("v=19", "m=64,t=1,p=1", salt+"==", key)},
		{"url-safe base64 key", argon("v=19", "m=64,t=1,p=1", salt, strings.Repeat("_", len(key)))},
		{"invalid base64 character in salt", argon("v=19", "m=64,t=1,p=1", "!"+salt[1:], key)},
		{"newline inside key", argon("v=19", "m=64,t=1,p=1", salt, key[:10]+"\n"+key[10:])},
		{"empty key", argon("v=19", "m=64,t=1,p=1", salt, "")},
		{"missing key", "$argon2id$v=19$m=64,t=1,p=1$" + salt},
		{"extra field", valid + "$extra"},
		{"trailing dollar", valid + "$"},
		{"huge string", valid + strings.Repeat("A", 1<<20)},
		{"bcrypt with unknown version 2x", "$2x$" + pgcryptoHash[4:]},
		{"bcrypt with no minor version", "$2$06$" + pgcryptoHash[7:]},
		{"bcrypt one character short", pgcryptoHash[:59]},
		{"bcrypt one character long", pgcryptoHash + "A"},
		{"bcrypt with one-digit cost", "$2a$6$" + pgcryptoHash[7:] + "A"},
		{"bcrypt with non-digit cost", "$2a$0x$" + pgcryptoHash[7:]},
		{"bcrypt with cost below 4", "$2a$03$" + pgcryptoHash[7:]},
		{"bcrypt with character outside its alphabet", pgcryptoHash[:59] + "+"},
		{"bcrypt with a dollar where the cost ends", "$2a$06" + "A" + pgcryptoHash[7:]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := New(tinyParams(), 1, nil)
			computations := countComputations(h)
			ok, rehash, err := h.Verify(t.Context(), tt.encoded, "pw")
			if !errors.Is(err, ErrMalformedHash) || ok || rehash {
				t.Fatalf("Verify = (%v, %v, %v), want (false, false, ErrMalformedHash)", ok, rehash, err)
			}
			if n := computations.Load(); n != 0 {
				t.Errorf("ran %d hashes for a malformed hash, want 0", n)
			}
		})
	}
}

func TestVerifyRefusesAbsurdParams(t *testing.T) {
	b64 := func(n int) string { return base64.RawStdEncoding.EncodeToString(make([]byte, n)) }
	argon := func(costs string, saltLen, keyLen int) string {
		return "$argon2id$v=19$" + costs + "$" + b64(saltLen) + "$" + b64(keyLen)
	}
	tests := []struct {
		name    string
		encoded string
		wantErr error
	}{
		{"memory over 1 GiB is refused", argon("m=1048577,t=1,p=1", 16, 32), ErrMalformedHash},
		{"memory of 4 GiB is refused", argon("m=4294967295,t=1,p=1", 16, 32), ErrMalformedHash},
		{"memory under 8 KiB per lane is refused", argon("m=15,t=1,p=2", 16, 32), ErrMalformedHash},
		{"iterations over 100 are refused", argon("m=64,t=101,p=1", 16, 32), ErrMalformedHash},
		{"zero iterations are refused", argon("m=64,t=0,p=1", 16, 32), ErrMalformedHash},
		{"zero lanes are refused", argon("m=64,t=1,p=0", 16, 32), ErrMalformedHash},
		{"salt under 8 bytes is refused", argon("m=64,t=1,p=1", 7, 32), ErrMalformedHash},
		{"salt over 1024 bytes is refused", argon("m=64,t=1,p=1", 1025, 32), ErrMalformedHash},
		{"key under 8 bytes is refused", argon("m=64,t=1,p=1", 16, 7), ErrMalformedHash},
		{"key over 1024 bytes is refused", argon("m=64,t=1,p=1", 16, 1025), ErrMalformedHash},
		{"bcrypt cost over 16 is refused", "$2a$17$" + pgcryptoHash[7:], ErrMalformedHash},
		{"bcrypt cost 31 is refused", "$2a$31$" + pgcryptoHash[7:], ErrMalformedHash},
		{"salt and key of 8 bytes are accepted", argon("m=64,t=1,p=1", 8, 8), nil},
		{"salt and key of 1024 bytes are accepted", argon("m=64,t=1,p=1", 1024, 1024), nil},
		{"100 iterations are accepted", argon("m=8,t=100,p=1", 16, 32), nil},
		{"bcrypt cost 4 is accepted", "$2a$04$" + pgcryptoHash[7:], nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := New(tinyParams(), 1, nil)
			computations := countComputations(h)
			ok, _, err := h.Verify(t.Context(), tt.encoded, "pw")
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) || ok {
				t.Fatalf("Verify = (%v, _, %v), want (false, _, %v)", ok, err, tt.wantErr)
			}
			wantComputations := int32(1)
			if tt.wantErr != nil {
				wantComputations = 0
			}
			if n := computations.Load(); n != wantComputations {
				t.Errorf("ran %d hashes, want %d", n, wantComputations)
			}
		})
	}
}

func TestParamsValidate(t *testing.T) {
	tests := []struct {
		name    string
		params  Params
		wantErr bool
	}{
		{"default params are valid", DefaultParams(), false},
		{"tiny test params are valid", tinyParams(), false},
		{"zero params are invalid", Params{}, true},
		{"memory over 1 GiB is invalid", Params{MemoryKiB: 1<<20 + 1, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}, true},
		{"zero iterations are invalid", Params{MemoryKiB: 64, Iterations: 0, Parallelism: 1, SaltLength: 16, KeyLength: 32}, true},
		{"zero lanes are invalid", Params{MemoryKiB: 64, Iterations: 1, Parallelism: 0, SaltLength: 16, KeyLength: 32}, true},
		{"short salt is invalid", Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1, SaltLength: 4, KeyLength: 32}, true},
		{"short key is invalid", Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 4}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.params.Validate()
			if tt.wantErr != errors.Is(err, ErrInvalidParams) || (!tt.wantErr && err != nil) {
				t.Fatalf("Validate = %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

func TestNewPanicsOnInvalidParams(t *testing.T) {
	defer func() {
		if err, _ := recover().(error); !errors.Is(err, ErrInvalidParams) {
			t.Fatalf("New panicked with %v, want an error wrapping ErrInvalidParams", err)
		}
	}()
	New(Params{}, 1, nil)
}

func TestDefaultParams(t *testing.T) {
	want := Params{MemoryKiB: 19456, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}
	if got := DefaultParams(); got != want {
		t.Fatalf("DefaultParams = %+v, want %+v", got, want)
	}
	h := New(DefaultParams(), 0, nil)
	if got := h.Params(); got != want {
		t.Fatalf("Params = %+v, want %+v", got, want)
	}
	encoded := mustHash(t, h, "correct horse battery staple")
	if prefix := "$argon2id$v=19$m=19456,t=2,p=1$"; !strings.HasPrefix(encoded, prefix) {
		t.Fatalf("Hash = %q, want prefix %q", encoded, prefix)
	}
	ok, rehash, err := h.Verify(t.Context(), encoded, "correct horse battery staple")
	if err != nil || !ok || rehash {
		t.Fatalf("Verify = (%v, %v, %v), want (true, false, nil)", ok, rehash, err)
	}
}

func TestVerifyDummy(t *testing.T) {
	h := New(tinyParams(), 1, nil)
	computations := countComputations(h)

	if err := h.VerifyDummy(t.Context(), "any password"); err != nil {
		t.Fatalf("VerifyDummy = %v, want nil", err)
	}
	if n := computations.Load(); n != 1 {
		t.Fatalf("VerifyDummy ran %d hashes, want 1", n)
	}
	p, _, _, err := decodeArgon2id(h.dummyHash)
	if err != nil || p != h.Params() {
		t.Fatalf("dummy hash has params %+v (err %v), want the hasher's %+v", p, err, h.Params())
	}
	if ok, _, err := h.Verify(t.Context(), h.dummyHash, ""); ok || err != nil {
		t.Fatalf("Verify(dummy, \"\") = (%v, _, %v), want (false, _, nil)", ok, err)
	}
}

func TestErrorsDoNotContainThePassword(t *testing.T) {
	const password = "pa55-do-not-leak"
	h := New(tinyParams(), 1, nil)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, _, malformedErr := h.Verify(t.Context(), "$argon2id$"+password, password)
	_, _, busyErr := h.Verify(ctx, pgcryptoHash, password)
	_, hashErr := h.Hash(ctx, password)
	for _, err := range []error{malformedErr, busyErr, hashErr} {
		if err == nil {
			t.Fatal("want an error")
		}
		if strings.Contains(err.Error(), password) {
			t.Errorf("error %q contains the password", err)
		}
	}
}
