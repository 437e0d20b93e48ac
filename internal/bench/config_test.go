package bench

import (
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		change  func(*Config)
		wantErr string
	}{
		{"defaults are valid", func(*Config) {}, ""},
		{"a remote database is refused", func(c *Config) { c.AdminURL = "postgres://db.example.com/postgres" }, "loopback"},
		{"localhost is fine", func(c *Config) { c.AdminURL = "postgres://postgres@localhost:5432/postgres" }, ""},
		{"too few sessions for the clients", func(c *Config) { c.Sessions = 10 }, "--sessions"},
		{"an unknown operation", func(c *Config) { c.Ops = []string{"signup"} }, "--ops"},
		{"a tool-owned server setting", func(c *Config) { c.ServerEnv = []string{"DATABASE_URL=postgres://x"} }, "set by the tool"},
		{"a server setting without =", func(c *Config) { c.ServerEnv = []string{"AUTHGATE_DB_MAX_CONNS"} }, "KEY=VALUE"},
		{"a too small size", func(c *Config) { c.Sizes = []int{10} }, "--sizes"},
		{"a short duration", func(c *Config) { c.Duration = time.Millisecond }, "--duration"},
		{"a too short soak", func(c *Config) { c.Soak = time.Millisecond }, "--soak"},
		{"a soak", func(c *Config) { c.Soak = 5 * time.Minute }, ""},
		{"pgbouncer with one client", func(c *Config) { c.PgBouncer, c.Clients, c.Sessions = true, 1, 100 }, "--pgbouncer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.change(&c)
			err := c.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate = %v, want an error mentioning %q", err, tt.wantErr)
			}
		})
	}
}

func TestPerClientShrinksForSmallTables(t *testing.T) {
	c := DefaultConfig()
	if got := c.perClient(200_000); got != 64 {
		t.Errorf("perClient(200000) = %d", got)
	}
	if got := c.perClient(4000); got != 62 { // 4000 / (2 × 32)
		t.Errorf("perClient(4000) = %d", got)
	}
	if got := c.perClient(64); got != 1 {
		t.Errorf("perClient(64) = %d", got)
	}
}

func TestDatabaseURL(t *testing.T) {
	got, err := databaseURL("postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", "bench_1", "binary_parameters=yes")
	if err != nil {
		t.Fatal(err)
	}
	if want := "postgres://postgres@127.0.0.1:5432/bench_1?binary_parameters=yes&sslmode=disable"; got != want {
		t.Errorf("databaseURL = %s, want %s", got, want)
	}
}

// A missing PgBouncer is reported before anything runs, not after the
// single-instance phases (the admin URL here points nowhere reachable).
func TestRunRefusesAMissingPgBouncerFirst(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	cfg.AdminURL = "postgres://postgres@127.0.0.1:1/postgres?sslmode=disable"
	cfg.PgBouncer, cfg.PgBouncerPath = true, filepath.Join(t.TempDir(), "no-pgbouncer")
	_, err := Run(t.Context(), cfg, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "apt-get install pgbouncer") {
		t.Fatalf("Run = %v, want the missing PgBouncer named", err)
	}
}
