package bench

import (
	"context"
	"database/sql"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"authgate/internal/authtest"
	"authgate/internal/pgtest"
)

// The refresh statement as pgbench runs it: each client chains its own
// sessions through \gset, so every transaction is a real rotation (none is
// refused as unknown or reused), which verifyRotations confirms from the
// sessions' generations.
func TestRotateScriptRotatesEveryTransactionUnderPgbench(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("pgbench")
	if err != nil {
		t.Fatalf("pgbench is not installed (it comes with PostgreSQL's server package): %v", err)
	}
	url := pgtest.NewDatabase(t)
	db, err := sql.Open("postgres", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	const clients, perClient, perClientTransactions = 2, 3, 10
	plan := seedPlan{users: 4, sessions: 20, clients: clients, perClient: perClient}
	if _, _, err := seed(ctx, db, plan, "x", authtest.RefreshKeys(t), time.Hour, 2*time.Hour, time.Minute); err != nil {
		t.Fatal(err)
	}
	stmt, err := storeStatement("../..", filepath.Join("internal", "store"), "rotateRefreshToken")
	if err != nil {
		t.Fatal(err)
	}
	for round := range 2 { // the second starts from reset chains
		if err := resetChains(ctx, db); err != nil {
			t.Fatal(err)
		}
		s, err := rotateScript(stmt, perClient, time.Now().UTC().Truncate(time.Microsecond), 10*time.Second, time.Hour, 3, round == 1)
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		script := filepath.Join(dir, "rotate.sql")
		if err := os.WriteFile(script, []byte(s.text), 0o600); err != nil {
			t.Fatal(err)
		}
		args := append([]string{"-n", "-M", "prepared", "-c", "2", "-j", "1", "-t", "10", "-f", script}, defineArgs(s.defines)...)
		cmd := exec.Command(bin, append(args, url)...)
		cmd.Env = append(os.Environ(), "PGOPTIONS="+s.options)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "number of failed transactions: 0") {
			t.Fatalf("pgbench: %v\n%s", err, out)
		}
		if got := verifyRotations(ctx, db, clients*perClientTransactions, updateCounts{}); !strings.HasPrefix(got, "OK: 20 rotations by 20 transactions, 0 sessions revoked") {
			t.Fatalf("round %d: %s", round, got)
		}
	}
}

func defineArgs(defines []string) []string {
	var out []string
	for _, d := range defines {
		out = append(out, "-D", d)
	}
	return out
}
