package store

import (
	"strings"
	"testing"
)

func TestOneSyncIsTheDefaultButTheUsersValueWins(t *testing.T) {
	for _, tc := range []struct{ name, dsn, want string }{
		{"URL", "postgres://postgres@127.0.0.1:5432/db?sslmode=disable", "binary_parameters=yes"},
		{"key=value", "host=127.0.0.1 dbname=db", "binary_parameters=yes host=127.0.0.1 dbname=db"},
		{"user says no", "postgres://h/db?binary_parameters=no", "binary_parameters='no'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := withOneSync(tc.dsn)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(got, "binary_parameters=yes ") || !strings.Contains(got, tc.want) {
				t.Fatalf("withOneSync(%q) = %q", tc.dsn, got)
			}
			// lib/pq reads key=value pairs in order: the user's own value, later, wins.
			if tc.name == "user says no" && strings.LastIndex(got, "binary_parameters='no'") < strings.Index(got, "binary_parameters=yes") {
				t.Fatalf("the user's binary_parameters='no' comes before the default: %q", got)
			}
		})
	}
}
