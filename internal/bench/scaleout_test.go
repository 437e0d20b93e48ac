package bench

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestPgbouncerConfig(t *testing.T) {
	ini, userlist := pgbouncerConfig(bouncerParams{dir: "/tmp/run/pgbouncer", port: 41234, dbName: "authgate_bench_1_2_3",
		pgHost: "127.0.0.1", pgPort: "5432", pgUser: "postgres"})
	for _, want := range []string{
		"[databases]\nauthgate_bench_1_2_3 = host=127.0.0.1 port=5432 dbname=authgate_bench_1_2_3 user=postgres\n",
		"[pgbouncer]\n",
		"listen_addr = 127.0.0.1\n",
		"listen_port = 41234\n",
		"unix_socket_dir = \n",
		"pool_mode = transaction\n",
		"auth_type = trust\n",
		"auth_file = /tmp/run/pgbouncer/userlist.txt\n",
		"max_client_conn = 400\n",
		"default_pool_size = 16\n",
		"ignore_startup_parameters = extra_float_digits\n",
		"logfile = /tmp/run/pgbouncer/pgbouncer.log\n",
		"pidfile = /tmp/run/pgbouncer/pgbouncer.pid\n",
	} {
		if !strings.Contains(ini, want) {
			t.Errorf("config lacks %q:\n%s", want, ini)
		}
	}
	// The databases section comes before the pgbouncer one.
	if strings.Index(ini, "[databases]") > strings.Index(ini, "[pgbouncer]") {
		t.Errorf("sections out of order:\n%s", ini)
	}
	if userlist != "\"postgres\" \"\"\n" {
		t.Errorf("userlist = %q", userlist)
	}
	if _, ul := pgbouncerConfig(bouncerParams{pgUser: `we"ird`}); ul != "\"we\"\"ird\" \"\"\n" {
		t.Errorf("quoted userlist = %q", ul)
	}
}

func TestBouncerURL(t *testing.T) {
	b := &bouncerProc{port: 6543}
	got, err := b.url("postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", "db1")
	if err != nil {
		t.Fatal(err)
	}
	if got != "postgres://postgres@127.0.0.1:6543/db1?sslmode=disable" {
		t.Errorf("url = %s", got)
	}
}

func TestScaleOutEnvAndOps(t *testing.T) {
	env := scaleOutEnv("postgres://postgres@127.0.0.1:5432/db1?sslmode=disable")
	if env["AUTHGATE_DB_PREPARE"] != "false" || !strings.Contains(env["AUTHGATE_LISTEN_DATABASE_URL"], ":5432/db1") {
		t.Errorf("env = %v", env)
	}
	names := func(ops []operation) (out []string) {
		for _, o := range ops {
			out = append(out, o.name)
		}
		return out
	}
	c := DefaultConfig()
	if got := names(scaleOutOps(c)); strings.Join(got, ",") != "refresh_actions,refresh_graphql" {
		t.Errorf("default ops = %v", got)
	}
	c.Ops = []string{opLogin, opRefreshGraphQL}
	if got := names(scaleOutOps(c)); strings.Join(got, ",") != "refresh_graphql" {
		t.Errorf("selected ops = %v", got)
	}
	c.Ops = []string{opLogin}
	if got := names(scaleOutOps(c)); len(got) != 2 {
		t.Errorf("no refresh selected: ops = %v", got)
	}
}

func TestSplitWorkers(t *testing.T) {
	a, b := &target{base: "a"}, &target{base: "b"}
	ws := newWorkers(a, []string{"t1", "t2", "t3", "t4", "t5"}, 5, 1)
	splitWorkers(ws, b)
	var got string
	for _, w := range ws {
		got += w.t.base
	}
	if got != "aabbb" {
		t.Errorf("split = %s", got)
	}
}

func TestParseGoroutineTotal(t *testing.T) {
	n, err := parseGoroutineTotal([]byte("goroutine profile: total 42\n5 @ 0x43e1b6 0x40a5e5\n"))
	if err != nil || n != 42 {
		t.Errorf("got %d, %v", n, err)
	}
	if n, err := parseGoroutineTotal([]byte("goroutine profile: total 7")); err != nil || n != 7 {
		t.Errorf("without newline: got %d, %v", n, err)
	}
	for _, bad := range []string{"", "heap profile: 1: 2 [3: 4] @ heap/1048576\n", "goroutine profile: total x\n", "goroutine profile: total -1\n"} {
		if _, err := parseGoroutineTotal([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestSoakChecks(t *testing.T) {
	s := &SoakResult{Duration: "1m0s", Start: SoakSnapshot{Goroutines: 30, PostgresConns: 17, OpenFDs: 25},
		End: SoakSnapshot{Goroutines: 30, PostgresConns: 17, OpenFDs: 25}}
	for _, c := range soakChecks(s) {
		if c.Status != "PASS" {
			t.Errorf("%s: %s", c.Name, c.Status)
		}
	}
	s.End.Goroutines = 31
	got := map[string]string{}
	for _, c := range soakChecks(s) {
		got[c.Name] = c.Status + " " + c.Measured
	}
	if got["soak 1m0s: goroutines, end = start"] != "FAIL 30 → 31" || got["soak 1m0s: open file descriptors, end = start"] != "PASS 25 → 25" {
		t.Errorf("checks = %v", got)
	}
	s.End.Goroutines = 30
	s.End.Errors = []string{"goroutines: connection refused"}
	for _, c := range soakChecks(s) {
		if c.Status != "FAIL" {
			t.Errorf("%s passed despite a failed snapshot", c.Name)
		}
	}
}

func TestScaleOutAndSoakReport(t *testing.T) {
	r := sampleReport()
	r.ScaleOut = &ScaleOutResult{Servers: 2, PoolMode: "transaction", PoolSize: 16, Ops: []OpResult{
		{Name: opRefreshActions, Label: "refreshToken /actions ×2 via PgBouncer", Requests: 1500, OK: 1500, OKPerSec: 1500,
			RequestsPerSec: 1500, ServerCPUPer1k: 0.6, PgBouncerCPUPer1k: 0.1, Latency: Latency{P50Ms: 1, P95Ms: 2, P99Ms: 3}},
	}, Integrity: &Integrity{OK: true, ClientSessions: 10, CurrentInDB: 10, FinalRefreshOK: 10}}
	r.Soak = &SoakResult{Duration: "1m0s", SettleSeconds: 5, OK: true,
		Refresh: OpResult{Clients: 32, RequestsPerSec: 900},
		Start:   SoakSnapshot{Goroutines: 30, PostgresConns: 17, OpenFDs: 25},
		End:     SoakSnapshot{Goroutines: 30, PostgresConns: 17, OpenFDs: 25}}
	r.Targets = evaluateTargets(r)
	got := map[string]TargetCheck{}
	for _, c := range r.Targets {
		got[c.Name] = c
	}
	if c := got["refreshToken /actions ×2 via PgBouncer ÷ one server"]; c.Status != "INFO" || c.Value != 1.5 {
		t.Errorf("ratio check = %+v", c)
	}
	if c := got["scale-out: no lost or forked sessions"]; c.Status != "PASS" {
		t.Errorf("integrity check = %+v", c)
	}
	if c := got["scale-out: server warning/error log lines (warm-ups included)"]; c.Status != "PASS" {
		t.Errorf("log check = %+v", c)
	}
	if c := got["soak 1m0s: goroutines, end = start"]; c.Status != "PASS" {
		t.Errorf("soak check = %+v", c)
	}

	var buf bytes.Buffer
	PrintTable(&buf, r)
	out := buf.String()
	for _, want := range []string{
		"scale-out: 2 servers through PgBouncer (transaction pooling, pool 16)",
		"scale-out sessions at the end: OK",
		"soak: refresh /actions for 1m0s, 32 clients",
		"soak leak check: PASS (end = start)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	row := ""
	for line := range strings.SplitSeq(out, "\n") {
		if strings.Contains(line, "×2 via PgBouncer") && !strings.Contains(line, "errors") && !strings.Contains(line, "÷") {
			row = line
		}
	}
	if f := strings.Fields(row); len(f) < 9 || f[5] != "1500" || f[6] != "1.50" || f[7] != "1.00" || f[12] != "0.600" || f[13] != "0.100" {
		t.Errorf("scale-out row = %q (fields %q)", row, f)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"scale_out":{"servers":2`, `"pgbouncer_cpu_seconds_per_1000":0.1`, `"soak":{"duration":"1m0s"`, `"goroutines":30`} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("JSON lacks %s", want)
		}
	}
}
