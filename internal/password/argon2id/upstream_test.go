package argon2id

import (
	"os"
	"strings"
	"testing"
)

// forkedFrom is the golang.org/x/crypto version this package copies.
const forkedFrom = "v0.58.0"

// The fork stays in step with upstream (docs/security.md): when go.mod moves
// x/crypto, this fails until upstream's argon2 changes since forkedFrom are
// applied here (or found to be none) and forkedFrom is moved with it.
func TestForkedFromTheXCryptoVersionInUse(t *testing.T) {
	mod, err := os.ReadFile("../../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(mod)) {
		fields := strings.Fields(line)
		if len(fields) >= 2 && fields[0] == "golang.org/x/crypto" {
			if fields[1] != forkedFrom {
				t.Fatalf("go.mod has golang.org/x/crypto %s, this fork is of %s: apply upstream's argon2 changes since then, then move forkedFrom", fields[1], forkedFrom)
			}
			return
		}
	}
	t.Fatal("go.mod does not require golang.org/x/crypto")
}
