package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// pgbench can only compute integers, and with -M prepared it sends a
// variable to the server as its decimal text, which a bytea parameter takes
// as those bytes. So a pgbench-owned session's token hash is the decimal
// text of chainValue(c, s, j): pgbench client c, its session s, after j
// rotations (19 bytes instead of 32; the index lookups are the same). A
// client's transaction n rotates its session (n-1) mod K from rotation
// (n-1) div K to the next: every transaction rotates a live session with its
// current token, the way authgate's clients chain theirs, without a second
// statement to look the token up.
const (
	chainBase          = 1_000_000_000_000_000_000
	chainClientStride  = 10_000_000_000_000 // 1e13: room for 1e6 sessions per client
	chainSessionStride = 10_000_000         // 1e7: room for 1e7 rotations per session
)

// chainValue is the hash pgbench's client c passes for its session s after
// j rotations.
func chainValue(c, s, j int64) int64 {
	return chainBase + c*chainClientStride + s*chainSessionStride + j
}

// chainSeedSQL is chainValue(c, s, 0) as a bytea SQL expression, for
// seeding; c and s are SQL expressions.
func chainSeedSQL(c, s string) string {
	return fmt.Sprintf("convert_to((%d::bigint + (%s)::bigint * %d + (%s)::bigint * %d)::text, 'UTF8')",
		int64(chainBase), c, int64(chainClientStride), s, int64(chainSessionStride))
}

// chainSetCommands are pgbench meta-commands setting :tok to the client's
// current chain value for this transaction and :succ to the next one; with
// rotate false the rows are only looked up, never rotated (tok stays at
// rotation 0).
func chainSetCommands(perClient int, rotate bool) string {
	var b strings.Builder
	b.WriteString("\\set n :n + 1\n")
	j := " + (:n - 1) / " + strconv.Itoa(perClient)
	if !rotate {
		j = ""
	}
	fmt.Fprintf(&b, "\\set tok %d + :client_id * %d + ((:n - 1) %% %d) * %d%s\n",
		int64(chainBase), int64(chainClientStride), perClient, int64(chainSessionStride), j)
	if rotate {
		b.WriteString("\\set succ :tok + 1\n")
	}
	return b.String()
}

// pgbenchScript is one custom pgbench script and the variables it needs.
type pgbenchScript struct {
	name    string
	label   string
	text    string
	defines []string // -D name=value
	// mode is pgbench's query protocol: "prepared" (parse and plan once per
	// connection) unless set.
	mode string
	// options are PGOPTIONS for pgbench's connections.
	options string
}

func (s pgbenchScript) protocol() string {
	if s.mode == "" {
		return "prepared"
	}
	return s.mode
}

// extended is script run with the extended protocol and no prepared
// statement: every execution is parsed, analysed and planned again, which is
// what lib/pq does for every query with arguments (an unnamed statement),
// though lib/pq also waits for one more round trip in between.
func (s pgbenchScript) extended() pgbenchScript {
	s.name += "_extended"
	s.label += ", -M extended"
	s.mode = "extended"
	s.options = ""
	return s
}

// rotateParams name rotateRefreshToken's parameters $1…$9, as its doc
// comment in internal/store/sessions.go lists them: now, grace cut-off,
// sliding expiry, ip, user agent, now in unix microseconds, replay client,
// replay limit, audit. A statement with more parameters than these and the
// token's three is refused.
var rotateParams = []string{"now", "grace", "expires", "ip", "ua", "nowus", "client", "replays", "audit"}

// rotateTokenParams name the token's parameters $10…$12 (session id,
// generation, proof) for the client's session slot: the variables \gset
// fills from the previous rotation of that session (or, the first time, from
// its row), since pgbench can compute no SHA-256.
func rotateTokenParams(slot int) []string {
	p := "s" + strconv.Itoa(slot) + "_"
	return []string{p + "id", p + "successor_generation", p + "successor_proof"}
}

// pgbenchChains bounds how many sessions one pgbench client chains. Each
// needs its own copy of the statement, which pgbench prepares (and
// PostgreSQL plans) once per connection: with the 64 an HTTP client chains,
// that set-up alone cost more PostgreSQL CPU than the rotations of a short
// run (1.0 instead of 0.3 ms per rotation, measured).
const pgbenchChains = 4

// rotateScript is authgate's refresh statement, verbatim but for its $n
// parameters written as pgbench variables. Each client chains its own
// sessions (min(perClient, pgbenchChains) of them) the way authgate's
// clients do: transaction n rotates session (n-1) mod that with the token
// the previous rotation of that session returned (its \gset keeps the
// successor's generation and proof). The first transaction reads each
// session's starting point from its row. now is the time every rotation
// records; audit is the server's AUTHGATE_AUDIT_REFRESHES.
func rotateScript(statement string, perClient int, now time.Time, grace, ttl time.Duration, replayLimit int, audit bool) (pgbenchScript, error) {
	perClient = min(perClient, pgbenchChains)
	var b strings.Builder
	b.WriteString("-- authgate-bench: internal/store/sessions.go rotateRefreshToken, parameters as pgbench variables\n")
	b.WriteString("\\set n :n + 1\n")
	fmt.Fprintf(&b, "\\set slot (:n - 1) %% %d\n", perClient)
	b.WriteString("\\if :n = 1\n")
	for slot := range perClient {
		fmt.Fprintf(&b, "SELECT id, generation AS successor_generation, sha256(token_secret || int8send(generation)) AS successor_proof\n"+
			"FROM auth.sessions WHERE id = %s \\gset s%d_\n", pgbenchSessionSQL(":client_id", strconv.Itoa(slot)), slot)
	}
	b.WriteString("\\endif\n")
	for slot := range perClient {
		body, err := bindParams(statement, append(slices.Clone(rotateParams), rotateTokenParams(slot)...))
		if err != nil {
			return pgbenchScript{}, err
		}
		if slot == 0 {
			b.WriteString("\\if :slot = 0\n")
		} else {
			fmt.Fprintf(&b, "\\elif :slot = %d\n", slot)
		}
		fmt.Fprintf(&b, "%s \\gset s%d_\n", body, slot)
	}
	b.WriteString("\\endif\n")
	return pgbenchScript{
		name:  "rotate",
		label: "rotateRefreshToken (authgate's refresh statement)",
		text:  b.String(),
		// pgbench prepares each session's copy of the statement on its own,
		// and PostgreSQL plans a prepared statement's first five runs for
		// their parameters: a short run would measure planning. The server
		// runs its one prepared statement per connection thousands of times,
		// on the generic plan.
		options: "-c plan_cache_mode=force_generic_plan",
		defines: []string{
			"n=0",
			"now=" + now.UTC().Format(time.RFC3339Nano),
			"grace=" + now.Add(-grace).UTC().Format(time.RFC3339Nano),
			"expires=" + now.Add(ttl).UTC().Format(time.RFC3339Nano),
			"ip=127.0.0.1",
			"ua=authgate-bench",
			"nowus=" + strconv.FormatInt(now.UnixMicro(), 10),
			`client=\x62656e6368`,
			"replays=" + strconv.Itoa(replayLimit),
			"audit=" + strconv.FormatBool(audit),
		},
	}, nil
}

// plainRotateScript is the cheapest write that does what a refresh must:
// find a row by its unique hash and replace the hash (a new index entry).
func plainRotateScript(perClient int) pgbenchScript {
	return pgbenchScript{
		name:  "plain_update",
		label: "UPDATE … SET token_hash = $2 WHERE token_hash = $1 RETURNING n",
		text: "-- authgate-bench: the cheapest rotation, one single-row UPDATE on a unique index\n" +
			chainSetCommands(perClient, true) +
			"UPDATE public.bench_plain SET token_hash = :succ WHERE token_hash = :tok RETURNING n;\n",
		defines: []string{"n=0"},
	}
}

// plainHOTScript is the cheapest write of all: find a row by its unique hash
// and bump a counter that no index covers (a heap-only update).
func plainHOTScript(perClient int) pgbenchScript {
	return pgbenchScript{
		name:  "plain_update_hot",
		label: "UPDATE … SET n = n + 1 WHERE token_hash = $1 RETURNING n",
		text: "-- authgate-bench: the cheapest write, one single-row UPDATE of an unindexed column\n" +
			chainSetCommands(perClient, false) +
			"UPDATE public.bench_plain SET n = n + 1 WHERE token_hash = :tok RETURNING n;\n",
		defines: []string{"n=0"},
	}
}

var paramRE = regexp.MustCompile(`\$([0-9]+)`)

// bindParams writes $1…$n of statement as :names[0]…, and refuses a
// statement pgbench would misread: a parameter without a name, a ';' (pgbench
// ends a command there), a line starting with '\' or a ':' that pgbench
// could take for a variable.
func bindParams(statement string, names []string) (string, error) {
	s := strings.TrimSpace(statement)
	switch {
	case strings.Contains(s, ";"):
		return "", fmt.Errorf("statement contains ';'")
	case regexp.MustCompile(`(^|[^:]):[A-Za-z_]`).MatchString(s):
		return "", fmt.Errorf("statement contains a ':name' pgbench would substitute")
	}
	for line := range strings.SplitSeq(s, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), `\`) {
			return "", fmt.Errorf("statement has a line starting with '\\'")
		}
	}
	var bad error
	out := paramRE.ReplaceAllStringFunc(s, func(m string) string {
		i, _ := strconv.Atoi(m[1:])
		if i < 1 || i > len(names) {
			bad = fmt.Errorf("statement uses %s, which has no name", m)
			return m
		}
		return ":" + names[i-1]
	})
	return out, bad
}

// storeStatement returns the value of the string constant name declared in
// package dir of the module at repoDir: the tool benchmarks the SQL the
// server runs, read from its source, never a copy that could drift.
// Constants built by concatenating literals and other constants, of this or
// another package of the module, are evaluated.
func storeStatement(repoDir, dir, name string) (string, error) {
	r, err := newConstReader(repoDir)
	if err != nil {
		return "", err
	}
	return r.value(dir, name, 0)
}

// constReader evaluates string constants across the module's packages.
type constReader struct {
	repoDir, module string
	pkgs            map[string]map[string]constDecl // package dir → name → declaration
}

// constDecl is a constant's expression and the imports of its file.
type constDecl struct {
	expr    ast.Expr
	imports map[string]string // local name → import path
}

var moduleRE = regexp.MustCompile(`(?m)^module\s+(\S+)`)

func newConstReader(repoDir string) (*constReader, error) {
	b, err := os.ReadFile(filepath.Join(repoDir, "go.mod"))
	if err != nil {
		return nil, err
	}
	m := moduleRE.FindSubmatch(b)
	if m == nil {
		return nil, fmt.Errorf("no module line in %s", filepath.Join(repoDir, "go.mod"))
	}
	return &constReader{repoDir: repoDir, module: string(m[1]), pkgs: map[string]map[string]constDecl{}}, nil
}

// pkg parses the non-test Go files of a package directory (relative to the
// module root) once.
func (r *constReader) pkg(dir string) (map[string]constDecl, error) {
	if p, ok := r.pkgs[dir]; ok {
		return p, nil
	}
	files, err := filepath.Glob(filepath.Join(r.repoDir, dir, "*.go"))
	if err != nil {
		return nil, err
	}
	consts := map[string]constDecl{}
	fset := token.NewFileSet()
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		imports := map[string]string{}
		for _, im := range f.Imports {
			p, _ := strconv.Unquote(im.Path.Value)
			local := p[strings.LastIndex(p, "/")+1:]
			if im.Name != nil {
				local = im.Name.Name
			}
			imports[local] = p
		}
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, spec := range g.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, n := range vs.Names {
					if i < len(vs.Values) {
						consts[n.Name] = constDecl{expr: vs.Values[i], imports: imports}
					}
				}
			}
		}
	}
	r.pkgs[dir] = consts
	return consts, nil
}

func (r *constReader) value(dir, name string, depth int) (string, error) {
	consts, err := r.pkg(dir)
	if err != nil {
		return "", err
	}
	d, ok := consts[name]
	if !ok {
		return "", fmt.Errorf("no constant %s in %s", name, dir)
	}
	return r.eval(dir, d, d.expr, depth+1)
}

func (r *constReader) eval(dir string, d constDecl, e ast.Expr, depth int) (string, error) {
	if depth > 20 {
		return "", fmt.Errorf("constants nest too deep")
	}
	switch e := e.(type) {
	case *ast.BasicLit:
		if e.Kind != token.STRING {
			return "", fmt.Errorf("not a string constant")
		}
		return strconv.Unquote(e.Value)
	case *ast.ParenExpr:
		return r.eval(dir, d, e.X, depth+1)
	case *ast.Ident:
		return r.value(dir, e.Name, depth)
	case *ast.SelectorExpr:
		pkg, ok := e.X.(*ast.Ident)
		if !ok {
			return "", fmt.Errorf("unsupported constant expression")
		}
		path, ok := d.imports[pkg.Name]
		rel, inModule := strings.CutPrefix(path, r.module+"/")
		if !ok || !inModule {
			return "", fmt.Errorf("constant %s.%s is not from this module", pkg.Name, e.Sel.Name)
		}
		return r.value(filepath.FromSlash(rel), e.Sel.Name, depth)
	case *ast.BinaryExpr:
		if e.Op != token.ADD {
			return "", fmt.Errorf("unsupported operator %s", e.Op)
		}
		a, err := r.eval(dir, d, e.X, depth+1)
		if err != nil {
			return "", err
		}
		b, err := r.eval(dir, d, e.Y, depth+1)
		return a + b, err
	}
	return "", fmt.Errorf("unsupported constant expression %T", e)
}

// PgbenchResult is one pgbench run.
type PgbenchResult struct {
	Name             string  `json:"name"`
	Label            string  `json:"label"`
	Clients          int     `json:"clients"`
	Threads          int     `json:"threads"`
	Protocol         string  `json:"protocol"`
	Seconds          int     `json:"seconds"`
	Transactions     int64   `json:"transactions"`
	Failed           int64   `json:"failed"`
	TPS              float64 `json:"tps"`
	Latency          Latency `json:"latency"`
	Usage            Usage   `json:"usage"`
	PostgresCPUPer1k float64 `json:"postgres_cpu_seconds_per_1000"`
	// Verified says how the run was checked to have done real work.
	Verified string `json:"verified,omitempty"`
	Script   string `json:"script"`
	Command  string `json:"command"`
	Error    string `json:"error,omitempty"`
}

// pgbenchArgs is pgbench's command line for script.
func pgbenchArgs(script pgbenchScript, scriptPath, logPrefix, dbURL string, clients, threads, seconds int) []string {
	args := []string{"-n", "-M", script.protocol(), "-c", strconv.Itoa(clients), "-j", strconv.Itoa(threads),
		"-T", strconv.Itoa(seconds), "-f", scriptPath, "--log", "--log-prefix=" + logPrefix}
	for _, d := range script.defines {
		args = append(args, "-D", d)
	}
	return append(args, dbURL)
}

// runPgbench runs script with pgbench and measures the database's CPU while
// it runs.
func runPgbench(ctx context.Context, bin, dir, dbURL, dbName string, script pgbenchScript, clients, threads, seconds int) PgbenchResult {
	r := PgbenchResult{Name: script.name, Label: script.label, Clients: clients, Threads: threads, Seconds: seconds,
		Protocol: script.protocol(), Script: script.text}
	scriptPath := filepath.Join(dir, "pgbench_"+script.name+".sql")
	if err := os.WriteFile(scriptPath, []byte(script.text), 0o600); err != nil {
		r.Error = err.Error()
		return r
	}
	logPrefix := filepath.Join(dir, "pgbench_"+script.name+"_log")
	args := pgbenchArgs(script, scriptPath, logPrefix, dbURL, clients, threads, seconds)
	r.Command = "pgbench " + strings.Join(args, " ")
	ctx, cancel := context.WithTimeout(ctx, time.Duration(seconds)*time.Second+2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	if script.options != "" {
		cmd.Env = append(os.Environ(), "PGOPTIONS="+script.options)
		r.Command = "PGOPTIONS='" + script.options + "' " + r.Command
	}
	cmd.SysProcAttr = childAttrs()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	s := startSampler(0, 0, dbName)
	err := cmd.Run()
	r.Usage = s.stop()
	if cmd.ProcessState != nil {
		r.Usage.ClientCPUSeconds = (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
	}
	sum := parsePgbenchOutput(out.String())
	r.Transactions, r.Failed, r.TPS = sum.transactions, sum.failed, sum.tps
	if err != nil {
		r.Error = fmt.Sprintf("pgbench: %v: %s", err, lastLines(out.String(), 5))
	}
	lat, err := readPgbenchLogs(logPrefix)
	if err != nil && r.Error == "" {
		r.Error = err.Error()
	}
	r.Latency = summarize(lat)
	r.PostgresCPUPer1k = 1000 * ratio(r.Usage.PostgresCPUSeconds, float64(r.Transactions))
	return r
}

// pgbenchSummary is what pgbench prints at the end of a run.
type pgbenchSummary struct {
	transactions, failed int64
	tps                  float64
}

var (
	pgbenchProcessedRE = regexp.MustCompile(`(?m)^number of transactions actually processed: (\d+)`)
	pgbenchFailedRE    = regexp.MustCompile(`(?m)^number of failed transactions: (\d+)`)
	pgbenchTPSRE       = regexp.MustCompile(`(?m)^tps = ([0-9.]+) \(without initial connection time\)`)
)

func parsePgbenchOutput(out string) pgbenchSummary {
	var s pgbenchSummary
	if m := pgbenchProcessedRE.FindStringSubmatch(out); m != nil {
		s.transactions, _ = strconv.ParseInt(m[1], 10, 64)
	}
	if m := pgbenchFailedRE.FindStringSubmatch(out); m != nil {
		s.failed, _ = strconv.ParseInt(m[1], 10, 64)
	}
	if m := pgbenchTPSRE.FindStringSubmatch(out); m != nil {
		s.tps, _ = strconv.ParseFloat(m[1], 64)
	}
	return s
}

// readPgbenchLogs reads the per-transaction latencies of pgbench --log
// files (one per thread): "client_id transaction_no time script_no
// time_epoch time_us …", time in microseconds or "failed"/"skipped".
func readPgbenchLogs(prefix string) ([]time.Duration, error) {
	files, err := filepath.Glob(prefix + ".*")
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	var out []time.Duration
	for _, path := range files {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		lat, err := parsePgbenchLog(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, lat...)
	}
	return out, nil
}

func parsePgbenchLog(r interface{ Read([]byte) (int, error) }) ([]time.Duration, error) {
	var out []time.Duration
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 6 {
			continue
		}
		us, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil {
			continue // failed or skipped
		}
		out = append(out, time.Duration(us)*time.Microsecond)
	}
	return out, sc.Err()
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
