package config_test

import (
	"strconv"
	"strings"
	"testing"

	"authgate/internal/config"
	"authgate/internal/password"
)

// The argon2id settings Load accepts are exactly those the hasher accepts:
// a value over the hasher's bound is one line naming the setting, never a
// panic when the hasher is built at start-up.
func TestArgon2MemoryBoundIsTheHashersBound(t *testing.T) {
	for _, tc := range []struct {
		kib    int
		accept bool
	}{
		{1 << 20, true},          // 1 GiB: the hasher's limit
		{1<<20 + 1, false},       // just over it
		{2 << 20, false},         // 2 GiB
		{4 << 20, false},         // 4 GiB: the old bound of the setting
		{1024, true},             // the minimum
		{19456, true},            // OWASP's
		{64, false},              // under the minimum
		{1 << 40, false},         // absurd
		{-19456, false},          // negative
		{int(^uint32(0)), false}, // would wrap a uint32
	} {
		t.Run(strconv.Itoa(tc.kib), func(t *testing.T) {
			c, err := config.Load(env(map[string]string{"AUTHGATE_ARGON2_MEMORY_KIB": strconv.Itoa(tc.kib)}))
			if !tc.accept {
				if err == nil {
					t.Fatalf("Load accepted %d KiB", tc.kib)
				}
				if msg := err.Error(); !strings.HasPrefix(msg, "AUTHGATE_ARGON2_MEMORY_KIB:") || strings.ContainsAny(msg, "\r\n") {
					t.Fatalf("error %q is not one line naming AUTHGATE_ARGON2_MEMORY_KIB", msg)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load refused %d KiB: %v", tc.kib, err)
			}
			if err := c.Argon2.Validate(); err != nil {
				t.Fatalf("Load accepted parameters the hasher refuses: %v", err)
			}
		})
	}
}

// Every combination of argon2id settings that Load accepts builds a hasher.
func TestAcceptedArgon2SettingsBuildAHasher(t *testing.T) {
	for _, vars := range []map[string]string{
		{"AUTHGATE_ARGON2_MEMORY_KIB": "1048576", "AUTHGATE_ARGON2_PARALLELISM": "64", "AUTHGATE_ARGON2_ITERATIONS": "100"},
		{"AUTHGATE_ARGON2_MEMORY_KIB": "1024", "AUTHGATE_ARGON2_PARALLELISM": "64", "AUTHGATE_ARGON2_ITERATIONS": "1"},
	} {
		c, err := config.Load(env(vars))
		if err != nil {
			t.Fatalf("Load(%v): %v", vars, err)
		}
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Fatalf("password.New panicked on accepted settings %v: %v", vars, p)
				}
			}()
			password.New(c.Argon2, 1, nil)
		}()
	}
}
