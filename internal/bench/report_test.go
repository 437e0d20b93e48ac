package bench

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func sampleReport() *Report {
	r := &Report{Settings: DefaultConfig()}
	r.Ops = []OpResult{
		{Name: opLogin, Label: "login (GraphQL)", Requests: 100, OK: 100, OKPerSec: 19, RequestsPerSec: 19},
		{Name: opRefreshGraphQL, Label: "refreshToken /graphql", Requests: 1000, OK: 1000, OKPerSec: 900, RequestsPerSec: 900,
			Latency: Latency{P50Ms: 5, P99Ms: 12}, Usage: Usage{ServerPeakRSSBytes: 40 << 20}, PostgresCPUPer1k: 0.2},
		{Name: opRefreshActions, Label: "refreshToken /actions", Requests: 1000, OK: 998, ErrorCount: 2,
			Errors: map[string]int{"TIMEOUT": 1, "INTERNAL": 1}, OKPerSec: 1000, RequestsPerSec: 1002, Latency: Latency{P50Ms: 5, P99Ms: 25}, PostgresCPUPer1k: 0.15},
		{Name: opWebhook, Label: "Hasura auth webhook", Skipped: "not available: 404"},
	}
	r.HashRate = &HashRate{PerSecond: 20}
	r.Ceilings = []PgbenchResult{
		{Name: "rotate", Label: "rotate", TPS: 1600, Clients: 32, Threads: 2, Seconds: 20},
		{Name: "plain_update", Label: "plain", TPS: 4000},
		{Name: "plain_update_hot", Label: "hot", TPS: 0, Error: "pgbench failed"},
	}
	r.Integrity = &Integrity{OK: true, ClientSessions: 10, CurrentInDB: 10, LiveSessions: 110, SeededSessions: 100, Logins: 10}
	r.Sizes = []SizeResult{
		{Sessions: 1_000_000, Refresh: OpResult{Latency: Latency{P50Ms: 3}}},
		{Sessions: 10_000, Refresh: OpResult{Latency: Latency{P50Ms: 2.5}}},
	}
	return r
}

func TestEvaluateTargets(t *testing.T) {
	got := map[string]TargetCheck{}
	for _, c := range evaluateTargets(sampleReport()) {
		got[c.Name] = c
	}
	want := map[string]string{
		"refresh /actions ÷ pgbench rotateRefreshToken":      "PASS", // 1000/1600 = 0.625
		"refresh /graphql ÷ pgbench rotateRefreshToken":      "INFO",
		"refresh /actions ÷ pgbench plain UPDATE (new hash)": "FAIL", // 0.25
		"refresh /graphql ÷ refresh /actions":                "PASS", // 0.9
		"refreshToken /actions p99":                          "FAIL",
		"refreshToken /graphql p99":                          "PASS",
		"refreshToken /actions errors":                       "FAIL",
		"refreshToken /actions p99 ÷ p50":                    "FAIL", // 5
		"refreshToken /graphql p99 ÷ p50":                    "PASS", // 2.4
		"login ÷ raw argon2id hash rate":                     "PASS", // 0.95
		"server peak RSS under load":                         "PASS",
		"no lost or forked sessions":                         "PASS",
		"refresh p50 at 1000000 ÷ at 10000 sessions":         "PASS", // 1.2
	}
	for name, status := range want {
		c, ok := got[name]
		if !ok {
			t.Errorf("no target %q", name)
			continue
		}
		if c.Status != status {
			t.Errorf("%s: %s (%s), want %s", name, c.Status, c.Measured, status)
		}
	}
	if _, ok := got["refresh /actions ÷ pgbench plain UPDATE (HOT, cheapest)"]; ok {
		t.Error("a failed pgbench run was compared with")
	}
	if c := got["refresh /actions ÷ pgbench rotateRefreshToken"]; c.Value != 0.625 {
		t.Errorf("ratio = %v", c.Value)
	}
}

func TestPrintTable(t *testing.T) {
	var b bytes.Buffer
	r := sampleReport()
	r.Targets = evaluateTargets(r)
	PrintTable(&b, r)
	out := b.String()
	for _, want := range []string{
		"refreshToken /actions", "2 (INTERNAL 1, TIMEOUT 1)", "not available: 404",
		"pgbench (-M prepared unless the statement says otherwise), 32 clients, 2 threads, 20s", "pgbench failed",
		"refresh /actions by table size", "sessions at the end: OK", "PASS", "FAIL",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestWriteJSONCreatesTheDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "b", "latest.json")
	r := sampleReport()
	r.Flags = map[string]string{"clients": "32"}
	if err := WriteJSON(r, path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"flags", "machine", "server_settings", "operations", "pgbench_ceilings", "integrity", "targets", "sizes"} {
		if _, ok := back[k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}
}

func TestFormatErrors(t *testing.T) {
	if got := formatErrors(0, nil); got != "0" {
		t.Errorf("formatErrors(0) = %q", got)
	}
	if got := formatErrors(3, map[string]int{"B": 1, "A": 2}); got != "3 (A 2, B 1)" {
		t.Errorf("formatErrors = %q", got)
	}
}

// Issue 19's targets: PostgreSQL's CPU per refresh against the plain HOT
// UPDATE's, and the memory target from the hashing settings.
func TestEvaluateIssue19Targets(t *testing.T) {
	r := sampleReport()
	r.Ceilings[2] = PgbenchResult{Name: "plain_update_hot", Label: "hot", TPS: 20000, PostgresCPUPer1k: 0.06}
	r.Server = ServerInfo{HashConcurrency: 2, Argon2MemoryKiB: 19456}
	r.Ops[1].Usage.ServerPeakRSSBytes = 103 << 20 // over 64 + 2 × 19 = 102
	got := map[string]TargetCheck{}
	for _, c := range evaluateTargets(r) {
		got[c.Name] = c
	}
	for name, status := range map[string]string{
		"refreshToken /actions PG CPU ÷ plain HOT UPDATE's": "PASS", // 0.15 / 0.06 = 2.5
		"refreshToken /graphql PG CPU ÷ plain HOT UPDATE's": "INFO",
		"server peak RSS under load":                        "FAIL",
	} {
		if c := got[name]; c.Status != status {
			t.Errorf("%s: %s (%s), want %s", name, c.Status, c.Measured, status)
		}
	}
	if g := got["server peak RSS under load"].Goal; g != "< 64 MB + 2 × 19 MB = 102 MB" {
		t.Errorf("RSS goal %q", g)
	}
}
