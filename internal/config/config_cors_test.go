package config_test

import (
	"slices"
	"strings"
	"testing"

	"authgate/internal/config"
)

func TestCORSOriginsAreExactOrigins(t *testing.T) {
	t.Parallel()
	cases := []struct {
		value   string
		want    []string
		wantErr bool
	}{
		{"", nil, false},
		{" , ", nil, false},
		{"https://app.example.com", []string{"https://app.example.com"}, false},
		{"https://app.example.com/, http://localhost:3000", []string{"https://app.example.com", "http://localhost:3000"}, false},
		{"HTTPS://App.Example.COM:443", []string{"https://app.example.com"}, false},
		{"http://[::1]:80,http://[::1]:8080", []string{"http://[::1]", "http://[::1]:8080"}, false},
		{"*", nil, true},
		{"https://*.example.com", nil, true},
		{"null", nil, true},
		{"app.example.com", nil, true},
		{"ftp://app.example.com", nil, true},
		{"https://app.example.com/login", nil, true},
		{"https://app.example.com?x=1", nil, true},
		{"https://app.example.com#x", nil, true},
		{"https://ann@app.example.com", nil, true},
		{"https://", nil, true},
		{"https://app.example.com:port", nil, true},
	}
	for _, tc := range cases {
		c, err := config.Load(corsEnv(map[string]string{"AUTHGATE_CORS_ORIGINS": tc.value}))
		switch {
		case tc.wantErr:
			if err == nil || !strings.HasPrefix(err.Error(), "AUTHGATE_CORS_ORIGINS: ") {
				t.Errorf("%q: err %v, want one naming AUTHGATE_CORS_ORIGINS", tc.value, err)
			}
		case err != nil:
			t.Errorf("%q: %v", tc.value, err)
		case !slices.Equal(c.CORSOrigins, tc.want):
			t.Errorf("%q: origins %q, want %q", tc.value, c.CORSOrigins, tc.want)
		}
	}
}

func TestHSTSIsOffUnlessSet(t *testing.T) {
	t.Parallel()
	for value, want := range map[string]bool{"": false, "false": false, "true": true, "1": true} {
		c, err := config.Load(corsEnv(map[string]string{"AUTHGATE_HSTS": value}))
		if err != nil || c.HSTS != want {
			t.Errorf("AUTHGATE_HSTS=%q: %v, %v; want %v", value, c.HSTS, err, want)
		}
	}
	if _, err := config.Load(corsEnv(map[string]string{"AUTHGATE_HSTS": "yes please"})); err == nil || !strings.HasPrefix(err.Error(), "AUTHGATE_HSTS: ") {
		t.Errorf("a bad AUTHGATE_HSTS: %v", err)
	}
}

func corsEnv(vars map[string]string) func(string) string {
	return func(name string) string { return vars[name] }
}
