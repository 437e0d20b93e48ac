package bench

import (
	"testing"

	"authgate/internal/pgtest"
)

// TestMain drops the template database the revocation-spread test clones.
func TestMain(m *testing.M) { pgtest.Main(m) }
