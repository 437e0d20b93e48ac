package config_test

import (
	"reflect"
	"slices"
	"testing"

	"authgate/internal/config"
)

// TestSettingNamesAreWhatLoadReads checks that the list of settings is
// exactly what Load reads: nothing read is missing from it (the docs check
// and the unknown-variable warning rely on it), and nothing in it is dead.
func TestSettingNamesAreWhatLoadReads(t *testing.T) {
	read := map[string]bool{}
	for _, vars := range []map[string]string{nil, {"AUTHGATE_ADDR": "127.0.0.1:1"}} {
		_, err := config.Load(func(name string) string {
			read[name] = true
			return vars[name]
		})
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
	}
	var got []string
	for name := range read {
		got = append(got, name)
	}
	slices.Sort(got)
	want := config.SettingNames()
	slices.Sort(want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Load reads %v\nSettingNames lists %v", got, want)
	}
}

// TestUnknownSettingsNameTheNearest checks the start-up warning's input:
// every AUTHGATE_* variable that is not a setting, with the setting it most
// likely meant, and nothing for settings, Hasura's AUTHGATE_URL, the
// scripts' variables, or other programs' variables.
func TestUnknownSettingsNameTheNearest(t *testing.T) {
	environ := []string{
		"PATH=/usr/bin",
		"AUTHGATE_ACTION_SECRET=x",
		"AUTHGATE_URL=http://authgate:8080",
		"AUTHGATE_TEST_DATABASE_URL=postgres://",
		"AUTHGATE_INTROSPECT=true",
		"AUTHGATE_CORS_ORIGIN=https://app.example.com",
		"AUTHGATE_LOGLEVEL=debug",
		"AUTHGATE_PORT=8080",
		"AUTHGATE_SOMETHING_ELSE_ENTIRELY=1",
		"HASURA_GRAPHQL_ADMIN_SECRET=x",
	}
	got := config.UnknownSettings(environ)
	want := []config.UnknownSetting{
		{Name: "AUTHGATE_INTROSPECT", Nearest: "AUTHGATE_INTROSPECTION"},
		{Name: "AUTHGATE_CORS_ORIGIN", Nearest: "AUTHGATE_CORS_ORIGINS"},
		{Name: "AUTHGATE_LOGLEVEL", Nearest: "AUTHGATE_LOG_LEVEL"},
		{Name: "AUTHGATE_PORT", Nearest: "AUTHGATE_ADDR"},
		{Name: "AUTHGATE_SOMETHING_ELSE_ENTIRELY", Nearest: ""},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("UnknownSettings = %+v\nwant %+v", got, want)
	}
}
