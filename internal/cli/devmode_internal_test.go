package cli

import (
	"testing"

	"authgate/internal/config"
)

// TestDevModeListensOn8090ByDefault checks make run's address: :8090, so
// that Hasura keeps 8080, unless AUTHGATE_ADDR or PORT says otherwise;
// outside development the default stays :8080.
func TestDevModeListensOn8090ByDefault(t *testing.T) {
	cases := []struct {
		name string
		env  map[string]string
		dev  bool
		want string
	}{
		{"development, nothing set", nil, true, ":8090"},
		{"development, AUTHGATE_ADDR set", map[string]string{"AUTHGATE_ADDR": "127.0.0.1:9000"}, true, "127.0.0.1:9000"},
		{"development, PORT set", map[string]string{"PORT": "9001"}, true, ":9001"},
		{"production, nothing set", nil, false, ":8080"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			getenv := func(name string) string { return tc.env[name] }
			if tc.dev {
				getenv = withDevDefaults(getenv)
			}
			cfg, err := config.Load(getenv)
			if err != nil || cfg.Addr != tc.want {
				t.Errorf("listens on %q (%v), want %q", cfg.Addr, err, tc.want)
			}
		})
	}
}
