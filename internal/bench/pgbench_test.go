package bench

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestBindParams(t *testing.T) {
	tests := []struct {
		name    string
		stmt    string
		names   []string
		want    string
		wantErr string
	}{
		{"every parameter becomes its variable", "SELECT $1, $2::text", []string{"a", "b"}, "SELECT :a, :b::text", ""},
		{"$10 is not $1 followed by 0", "SELECT $1, $10", []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}, "SELECT :a, :j", ""},
		{"casts are left alone", "SELECT x::bytea FROM t WHERE y = $1", []string{"y"}, "SELECT x::bytea FROM t WHERE y = :y", ""},
		{"surrounding space is trimmed", "\n  SELECT $1\n", []string{"a"}, "SELECT :a", ""},
		{"a parameter without a name is refused", "SELECT $1, $3", []string{"a", "b"}, "", "$3"},
		{"a semicolon is refused", "SELECT 1; SELECT $1", []string{"a"}, "", "';'"},
		{"a colon name is refused", "SELECT :x", nil, "", ":name"},
		{"a backslash line is refused", "SELECT 1\n\\set x 1", nil, "", "'\\'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := bindParams(tt.stmt, tt.names)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("bindParams error = %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("bindParams = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// chainStep is what chainSetCommands makes pgbench compute for client c's
// transaction n (1-based).
func chainStep(c, n, perClient int64) (tok, succ int64) {
	tok = chainBase + c*chainClientStride + ((n-1)%perClient)*chainSessionStride + (n-1)/perClient
	return tok, tok + 1
}

func TestChainSetCommandsText(t *testing.T) {
	want := `\set n :n + 1
\set tok 1000000000000000000 + :client_id * 10000000000000 + ((:n - 1) % 8) * 10000000 + (:n - 1) / 8
\set succ :tok + 1
`
	if got := chainSetCommands(8, true); got != want {
		t.Errorf("chainSetCommands(8, true) =\n%s\nwant\n%s", got, want)
	}
	wantFixed := `\set n :n + 1
\set tok 1000000000000000000 + :client_id * 10000000000000 + ((:n - 1) % 8) * 10000000
`
	if got := chainSetCommands(8, false); got != wantFixed {
		t.Errorf("chainSetCommands(8, false) =\n%s\nwant\n%s", got, wantFixed)
	}
}

func TestChainsRotateEverySessionInTurnWithItsCurrentToken(t *testing.T) {
	const perClient = 5
	for c := int64(0); c < 3; c++ {
		current := map[int64]int64{} // session → its current value
		for s := int64(0); s < perClient; s++ {
			current[s] = chainValue(c, s, 0)
		}
		for n := int64(1); n <= 4*perClient; n++ {
			tok, succ := chainStep(c, n, perClient)
			s := (n - 1) % perClient
			if tok != current[s] {
				t.Fatalf("client %d transaction %d presents %d, session %d holds %d", c, n, tok, s, current[s])
			}
			current[s] = succ
		}
	}
	if chainValue(1, 0, 0) == chainValue(0, 0, 0) || chainValue(0, 1, 0) == chainValue(0, 0, 1) {
		t.Error("chain values of different sessions collide")
	}
	if got := len(strconv.FormatInt(chainValue(1000, 99_999, 9_999_999), 10)); got != 19 {
		t.Errorf("chain values are %d digits, want 19 (the reset relies on it)", got)
	}
}

func TestChainSeedSQLUsesTheSameConstants(t *testing.T) {
	got := chainSeedSQL("c", "s")
	want := "convert_to((1000000000000000000::bigint + (c)::bigint * 10000000000000 + (s)::bigint * 10000000)::text, 'UTF8')"
	if got != want {
		t.Errorf("chainSeedSQL = %s, want %s", got, want)
	}
}

func TestRotateScriptBindsTheServersStatement(t *testing.T) {
	stmt, err := storeStatement("../..", filepath.Join("internal", "store"), "rotateRefreshToken")
	if err != nil {
		t.Fatalf("reading rotateRefreshToken from the source: %v", err)
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)
	s, err := rotateScript(stmt, 16, now, 10*time.Second, time.Hour, 3, false)
	if err != nil {
		t.Fatalf("rotateScript: %v (the refresh statement gained a parameter the tool does not know?)", err)
	}
	if regexp.MustCompile(`\$[0-9]`).MatchString(s.text) {
		t.Errorf("script still has $n parameters:\n%s", s.text)
	}
	// Each of the client's first pgbenchChains sessions: its starting point
	// read once, then its rotation, each ending in \gset (which keeps the
	// successor).
	last := strconv.Itoa(pgbenchChains - 1)
	if strings.Contains(s.text, ";") || strings.Count(s.text, "\\gset s") != 2*pgbenchChains ||
		!strings.Contains(s.text, "SELECT :s"+last+"_id::uuid AS id, :s"+last+"_successor_generation::bigint AS g, :s"+last+"_successor_proof::bytea AS proof") {
		t.Errorf("script does not chain %d sessions through \\gset:\n%.2000s", pgbenchChains, s.text)
	}
	for _, d := range []string{"n=0", "now=2026-01-02T03:04:05.123456Z", "grace=2026-01-02T03:03:55.123456Z",
		"expires=2026-01-02T04:04:05.123456Z", "replays=3", "audit=false"} {
		if !strings.Contains(strings.Join(s.defines, " "), d) {
			t.Errorf("defines %v lack %s", s.defines, d)
		}
	}
	ext := s.extended()
	if ext.protocol() != "extended" || s.protocol() != "prepared" || ext.name != "rotate_extended" {
		t.Errorf("extended() = %q/%q, original %q", ext.name, ext.protocol(), s.protocol())
	}
}

func TestStoreStatementEvaluatesConcatenationsAcrossPackages(t *testing.T) {
	root := t.TempDir()
	write := func(path, text string) {
		t.Helper()
		full := filepath.Join(root, path)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module example.test/m\n\ngo 1.26\n")
	write("chans/chans.go", "package chans\n\nconst Channel = \"ch\"\n")
	write("store/a.go", "package store\n\nimport c \"example.test/m/chans\"\n\nconst cond = `x = $1`\n\nconst q = `SELECT 1 WHERE ` + cond + (\" AND '\" + c.Channel + \"'\")\n")
	write("store/a_test.go", "package store\n\nconst q2 = `ignored`\n")
	got, err := storeStatement(root, "store", "q")
	if err != nil {
		t.Fatal(err)
	}
	if want := "SELECT 1 WHERE x = $1 AND 'ch'"; got != want {
		t.Errorf("storeStatement = %q, want %q", got, want)
	}
	if _, err := storeStatement(root, "store", "q2"); err == nil {
		t.Error("a constant of a test file was found")
	}
	if _, err := storeStatement(root, "store", "missing"); err == nil {
		t.Error("a missing constant was found")
	}
}

func TestPgbenchArgs(t *testing.T) {
	s := plainHOTScript(4)
	got := strings.Join(pgbenchArgs(s, "/t/s.sql", "/t/log", "postgres://127.0.0.1/db", 32, 2, 20), " ")
	want := "-n -M prepared -c 32 -j 2 -T 20 -f /t/s.sql --log --log-prefix=/t/log -D n=0 postgres://127.0.0.1/db"
	if got != want {
		t.Errorf("pgbenchArgs =\n%s\nwant\n%s", got, want)
	}
	if !strings.Contains(s.text, "UPDATE public.bench_plain SET n = n + 1 WHERE token_hash = :tok RETURNING n;") {
		t.Errorf("HOT script:\n%s", s.text)
	}
	if p := plainRotateScript(4); !strings.Contains(p.text, "SET token_hash = :succ WHERE token_hash = :tok") {
		t.Errorf("plain rotate script:\n%s", p.text)
	}
}

func TestParsePgbenchOutput(t *testing.T) {
	out := `pgbench (15.20 (Debian 15.20-0+deb12u1))
transaction type: /tmp/x/pgbench_rotate.sql
scaling factor: 1
query mode: prepared
number of clients: 32
number of threads: 2
maximum number of tries: 1
duration: 20 s
number of transactions actually processed: 84211
number of failed transactions: 3 (0.004%)
latency average = 7.594 ms
initial connection time = 60.109 ms
tps = 4213.834217 (without initial connection time)
`
	got := parsePgbenchOutput(out)
	if got.transactions != 84211 || got.failed != 3 || got.tps != 4213.834217 {
		t.Errorf("parsePgbenchOutput = %+v", got)
	}
}

func TestParsePgbenchLog(t *testing.T) {
	log := "0 1 1523 0 1700000000 123456\n1 1 failed 0 1700000000 123999\n0 2 877 0 1700000000 124000\nshort line\n"
	got, err := parsePgbenchLog(strings.NewReader(log))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != 1523*time.Microsecond || got[1] != 877*time.Microsecond {
		t.Errorf("parsePgbenchLog = %v", got)
	}
}
