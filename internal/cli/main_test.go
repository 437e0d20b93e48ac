package cli_test

import (
	"testing"

	"authgate/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }
