package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"authgate/internal/config"
)

// Report is everything one run measured; it is written as JSON and printed
// as tables.
type Report struct {
	StartedAt time.Time `json:"started_at"`
	Seconds   float64   `json:"seconds"`
	// Settings are the run's settings; Flags the command line as given.
	Settings  Config            `json:"-"`
	Flags     map[string]string `json:"flags"`
	Machine   Machine           `json:"machine"`
	Server    ServerInfo        `json:"server_settings"`
	ServerEnv map[string]string `json:"server_env"`
	Seed      SeedInfo          `json:"seed"`
	HashRate  *HashRate         `json:"argon2id_raw,omitempty"`
	Ops       []OpResult        `json:"operations"`
	Ceilings  []PgbenchResult   `json:"pgbench_ceilings,omitempty"`
	Sizes     []SizeResult      `json:"sizes,omitempty"`
	Integrity *Integrity        `json:"integrity,omitempty"`
	ScaleOut  *ScaleOutResult   `json:"scale_out,omitempty"`
	Soak      *SoakResult       `json:"soak,omitempty"`
	Targets   []TargetCheck     `json:"targets"`
	Notes     []string          `json:"notes,omitempty"`
	Error     string            `json:"error,omitempty"`
}

// ServerInfo is the server's parsed configuration, as its config package
// reads the environment the tool gives it.
type ServerInfo struct {
	JWTAlgorithm      string `json:"jwt_algorithm"`
	DBMaxConns        int    `json:"db_max_conns"`
	Argon2MemoryKiB   uint32 `json:"argon2_memory_kib"`
	Argon2Iterations  uint32 `json:"argon2_iterations"`
	Argon2Parallelism uint8  `json:"argon2_parallelism"`
	HashConcurrency   int    `json:"hash_concurrency"`
	AccessTokenTTL    string `json:"access_token_ttl"`
	RefreshTokenTTL   string `json:"refresh_token_ttl"`
	SessionMaxAge     string `json:"session_max_age"`
	RefreshReuseGrace string `json:"refresh_reuse_grace"`
	RequestTimeout    string `json:"request_timeout"`
	LogLevel          string `json:"log_level"`
}

func describeServer(c *config.Config) ServerInfo {
	s := ServerInfo{DBMaxConns: c.DBMaxConns, Argon2MemoryKiB: c.Argon2.MemoryKiB, Argon2Iterations: c.Argon2.Iterations,
		Argon2Parallelism: c.Argon2.Parallelism, HashConcurrency: c.HashConcurrency, AccessTokenTTL: c.AccessTokenTTL.String(),
		RefreshTokenTTL: c.RefreshTokenTTL.String(), SessionMaxAge: c.SessionMaxAge.String(),
		RefreshReuseGrace: c.RefreshReuseGrace.String(), RequestTimeout: c.RequestTimeout.String(), LogLevel: c.LogLevel}
	if c.JWT != nil {
		s.JWTAlgorithm = c.JWT.Algorithm()
	}
	return s
}

// OpResult is one operation's measurement.
type OpResult struct {
	Name    string `json:"name"`
	Label   string `json:"label"`
	Skipped string `json:"skipped,omitempty"`
	Clients int    `json:"clients"`

	Requests       int            `json:"requests"`
	OK             int            `json:"ok"`
	ErrorCount     int            `json:"error_count"`
	Errors         map[string]int `json:"errors"`
	Seconds        float64        `json:"seconds"`
	RequestsPerSec float64        `json:"requests_per_second"`
	OKPerSec       float64        `json:"ok_per_second"`
	Latency        Latency        `json:"latency"`
	Usage          Usage          `json:"usage"`

	ServerCPUPer1k   float64 `json:"server_cpu_seconds_per_1000"`
	PostgresCPUPer1k float64 `json:"postgres_cpu_seconds_per_1000"`
	ClientCPUPer1k   float64 `json:"client_cpu_seconds_per_1000"`
	// PgBouncerCPUPer1k is PgBouncer's CPU, in the scale-out phase.
	PgBouncerCPUPer1k float64 `json:"pgbouncer_cpu_seconds_per_1000,omitempty"`
	// SeqScans are sequential scans of auth's tables during the phase (0:
	// every lookup used an index).
	SeqScans map[string]int64 `json:"seq_scans,omitempty"`
	// SessionUpdates are the updates of auth.sessions during the phase, and
	// how many were HOT (refresh phases only).
	SessionUpdates *updateCounts `json:"session_updates,omitempty"`
}

func (r *OpResult) fill(out phaseOutcome) {
	r.Requests, r.OK, r.ErrorCount, r.Errors = out.requests, out.ok, out.errorCount(), out.errors
	r.Seconds = out.elapsed.Seconds()
	r.RequestsPerSec = ratio(float64(out.requests), r.Seconds)
	r.OKPerSec = ratio(float64(out.ok), r.Seconds)
	r.Latency = summarize(out.latencies)
	n := float64(out.requests)
	r.ServerCPUPer1k = 1000 * ratio(r.Usage.ServerCPUSeconds, n)
	r.PostgresCPUPer1k = 1000 * ratio(r.Usage.PostgresCPUSeconds, n)
	r.ClientCPUPer1k = 1000 * ratio(r.Usage.ClientCPUSeconds, n)
	r.PgBouncerCPUPer1k = 1000 * ratio(r.Usage.PgBouncerCPUSeconds, n)
}

// SizeResult is refresh over /actions on a table of a given size.
type SizeResult struct {
	Sessions    int      `json:"sessions"`
	SeedSeconds float64  `json:"seed_seconds"`
	Refresh     OpResult `json:"refresh_actions"`
}

// TargetCheck compares one figure with the goal of issue 6.
type TargetCheck struct {
	Name     string  `json:"name"`
	Goal     string  `json:"goal"`
	Value    float64 `json:"value"`
	Measured string  `json:"measured"`
	// Status is PASS, FAIL, or INFO (a figure without a goal).
	Status string `json:"status"`
}

func (r *Report) op(name string) *OpResult {
	for i := range r.Ops {
		if r.Ops[i].Name == name && r.Ops[i].Skipped == "" && r.Ops[i].Requests > 0 {
			return &r.Ops[i]
		}
	}
	return nil
}

func (r *Report) ceiling(name string) *PgbenchResult {
	for i := range r.Ceilings {
		if r.Ceilings[i].Name == name && r.Ceilings[i].TPS > 0 {
			return &r.Ceilings[i]
		}
	}
	return nil
}

func check(name, goal string, value float64, pass bool, measured string) TargetCheck {
	status := "FAIL"
	if pass {
		status = "PASS"
	}
	return TargetCheck{Name: name, Goal: goal, Value: value, Measured: measured, Status: status}
}

func info(name string, value float64, measured string) TargetCheck {
	return TargetCheck{Name: name, Goal: "—", Value: value, Measured: measured, Status: "INFO"}
}

// evaluateTargets compares the report with issue 6's and issue 19's targets;
// a figure that was not measured is left out.
func evaluateTargets(r *Report) []TargetCheck {
	var out []TargetCheck
	actions, graphql := r.op(opRefreshActions), r.op(opRefreshGraphQL)
	frac := func(a *OpResult, c *PgbenchResult) (float64, string) {
		v := ratio(a.OKPerSec, c.TPS)
		return v, fmt.Sprintf("%.2f (%.0f / %.0f per s)", v, a.OKPerSec, c.TPS)
	}
	ceilings := []struct {
		name, label string
		min         float64
	}{
		{"rotate", "pgbench rotateRefreshToken", 0.50},
		{"plain_update", "pgbench plain UPDATE (new hash)", 0.35},
		{"plain_update_hot", "pgbench plain UPDATE (HOT, cheapest)", 0.35},
	}
	for _, c := range ceilings {
		ceil := r.ceiling(c.name)
		if ceil == nil {
			continue
		}
		if actions != nil {
			v, m := frac(actions, ceil)
			out = append(out, check("refresh /actions ÷ "+c.label, fmt.Sprintf("≥ %.2f", c.min), v, v >= c.min, m))
		}
		if graphql != nil {
			v, m := frac(graphql, ceil)
			out = append(out, info("refresh /graphql ÷ "+c.label, v, m))
		}
	}
	if actions != nil && graphql != nil {
		v := ratio(graphql.OKPerSec, actions.OKPerSec)
		out = append(out, check("refresh /graphql ÷ refresh /actions", "≥ 0.85", v, v >= 0.85,
			fmt.Sprintf("%.2f (%.0f / %.0f per s)", v, graphql.OKPerSec, actions.OKPerSec)))
	}
	// Issue 19: PostgreSQL's CPU per refresh against the cheapest write's.
	if hot := r.ceiling("plain_update_hot"); hot != nil && hot.PostgresCPUPer1k > 0 {
		for _, o := range []*OpResult{actions, graphql} {
			if o == nil || o.PostgresCPUPer1k <= 0 {
				continue
			}
			v := o.PostgresCPUPer1k / hot.PostgresCPUPer1k
			m := fmt.Sprintf("%.1f× (%.3f / %.3f ms)", v, o.PostgresCPUPer1k, hot.PostgresCPUPer1k)
			if o == actions {
				out = append(out, check(o.Label+" PG CPU ÷ plain HOT UPDATE's", "≤ 2.5×", v, v <= 2.5, m))
			} else {
				out = append(out, info(o.Label+" PG CPU ÷ plain HOT UPDATE's", v, m))
			}
		}
	}
	for _, o := range []*OpResult{actions, graphql} {
		if o == nil {
			continue
		}
		out = append(out, check(o.Label+" p99", "< 20 ms", o.Latency.P99Ms, o.Latency.P99Ms < 20,
			fmt.Sprintf("%.2f ms", o.Latency.P99Ms)))
		if o.Latency.P50Ms > 0 {
			v := o.Latency.P99Ms / o.Latency.P50Ms
			out = append(out, check(o.Label+" p99 ÷ p50", "≤ 3", v, v <= 3,
				fmt.Sprintf("%.2f (%.2f / %.2f ms)", v, o.Latency.P99Ms, o.Latency.P50Ms)))
		}
		out = append(out, check(o.Label+" errors", "0", float64(o.ErrorCount), o.ErrorCount == 0,
			fmt.Sprintf("%d of %d", o.ErrorCount, o.Requests)))
	}
	if login := r.op(opLogin); login != nil && r.HashRate != nil && r.HashRate.PerSecond > 0 {
		v := ratio(login.OKPerSec, r.HashRate.PerSecond)
		out = append(out, check("login ÷ raw argon2id hash rate", "≥ 0.90", v, v >= 0.90,
			fmt.Sprintf("%.2f (%.1f / %.1f per s)", v, login.OKPerSec, r.HashRate.PerSecond)))
		if r.HashRate.CPUMsPerHash > 0 {
			// CPU per operation hardly depends on what else the machine
			// runs: near 1.0 means a login costs its hash and little else.
			v := ratio(login.ServerCPUPer1k, r.HashRate.CPUMsPerHash)
			out = append(out, info("login server CPU ÷ raw argon2id CPU per hash", v,
				fmt.Sprintf("%.2f (%.1f / %.1f ms)", v, login.ServerCPUPer1k, r.HashRate.CPUMsPerHash)))
		}
	}
	var peak int64
	for _, o := range r.Ops {
		peak = max(peak, o.Usage.ServerPeakRSSBytes)
	}
	if peak > 0 {
		// Issue 19: 64 MB plus the working memory of every hashing slot.
		limit, goal := 100.0, "< 100 MB"
		if s := r.Server; s.HashConcurrency > 0 && s.Argon2MemoryKiB > 0 {
			limit = 64 + float64(s.HashConcurrency)*float64(s.Argon2MemoryKiB)/1024
			goal = fmt.Sprintf("< 64 MB + %d × %.0f MB = %.0f MB", s.HashConcurrency, float64(s.Argon2MemoryKiB)/1024, limit)
		}
		mb := float64(peak) / (1 << 20)
		out = append(out, check("server peak RSS under load", goal, mb, mb < limit, fmt.Sprintf("%.1f MB", mb)))
	}
	if in := r.Integrity; in != nil {
		m := fmt.Sprintf("%d/%d client sessions current and refreshed once more; %d live = %d seeded + %d logins",
			in.CurrentInDB, in.ClientSessions, in.LiveSessions, in.SeededSessions, in.Logins)
		if !in.OK {
			m = strings.Join(in.Problems, "; ")
		}
		out = append(out, check("no lost or forked sessions", "all", boolValue(in.OK), in.OK, m))
	}
	out = append(out, scaleOutTargets(r)...)
	if r.Soak != nil {
		out = append(out, soakChecks(r.Soak)...)
	}
	if len(r.Sizes) >= 2 {
		small, large := r.Sizes[0], r.Sizes[0]
		for _, s := range r.Sizes {
			if s.Sessions < small.Sessions {
				small = s
			}
			if s.Sessions > large.Sessions {
				large = s
			}
		}
		v := ratio(large.Refresh.Latency.P50Ms, small.Refresh.Latency.P50Ms)
		out = append(out, check(fmt.Sprintf("refresh p50 at %d ÷ at %d sessions", large.Sessions, small.Sessions), "≤ 1.5 (flat)",
			v, v > 0 && v <= 1.5, fmt.Sprintf("%.2f (%.2f / %.2f ms; p99 %.2f / %.2f ms)", v, large.Refresh.Latency.P50Ms,
				small.Refresh.Latency.P50Ms, large.Refresh.Latency.P99Ms, small.Refresh.Latency.P99Ms)))
	}
	return out
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// WriteJSON writes r to path, creating its directory.
func WriteJSON(r *Report, path string) error {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// PrintTable writes r for people: one table per part of the run.
func PrintTable(w io.Writer, r *Report) {
	m := r.Machine
	fmt.Fprintf(w, "\nauthgate-bench, %s, %.0fs\n", r.StartedAt.Format(time.RFC3339), r.Seconds)
	fmt.Fprintf(w, "machine: %d CPUs (%s), %.1f GiB, %s, load avg at start %s\n", m.NumCPU, m.CPUModel,
		float64(m.MemTotalBytes)/(1<<30), m.GoVersion, m.LoadAvgAtStart)
	fmt.Fprintf(w, "database: %s\n", firstWords(m.PostgresVersion, 2))
	s := r.Server
	fmt.Fprintf(w, "server: pool %d, argon2id m=%d t=%d p=%d, hash concurrency %d, log %s\n",
		s.DBMaxConns, s.Argon2MemoryKiB, s.Argon2Iterations, s.Argon2Parallelism, s.HashConcurrency, s.LogLevel)
	fmt.Fprintf(w, "seed: %d users, %d sessions (%d owned by the HTTP clients, %d by pgbench's; %d each), %d denylisted access tokens, in %.1fs; one password hash reused for every user\n",
		r.Seed.Users, r.Seed.Sessions, r.Seed.ClientSessions, r.Seed.PgbenchSessions, r.Seed.SessionsPerClient, r.Seed.DenylistedTokens, r.Seed.Seconds)

	if len(r.Ops) > 0 {
		fmt.Fprintf(w, "\nHTTP, %d clients (CPU columns: seconds per 1,000 requests)\n", r.Settings.Clients)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "operation\treq/s\tp50 ms\tp95 ms\tp99 ms\tmax ms\terrors\tserver CPU\tPG CPU\tclient CPU\tserver RSS MB\tbusy %\t")
		for _, o := range r.Ops {
			if o.Skipped != "" {
				fmt.Fprintf(tw, "%s\t%s\t\t\t\t\t\t\t\t\t\t\t\n", o.Label, o.Skipped)
				continue
			}
			fmt.Fprintf(tw, "%s\t%.0f\t%.2f\t%.2f\t%.2f\t%.1f\t%s\t%.3f\t%.3f\t%.3f\t%.1f\t%.0f\t\n", o.Label, o.RequestsPerSec,
				o.Latency.P50Ms, o.Latency.P95Ms, o.Latency.P99Ms, o.Latency.MaxMs, formatErrors(o.ErrorCount, o.Errors),
				o.ServerCPUPer1k, o.PostgresCPUPer1k, o.ClientCPUPer1k, float64(o.Usage.ServerPeakRSSBytes)/(1<<20), o.Usage.MachineBusyPercent)
		}
		tw.Flush()
		for _, o := range r.Ops {
			if o.SessionUpdates != nil {
				fmt.Fprintf(w, "updates of auth.sessions during %s: %d, of which HOT: %d\n", o.Label, o.SessionUpdates.Updates, o.SessionUpdates.HOT)
			}
			if o.SeqScans != nil {
				fmt.Fprintf(w, "sequential scans of auth's tables during %s: %s\n", o.Label, formatScans(o.SeqScans))
			}
		}
	}
	if h := r.HashRate; h != nil {
		fmt.Fprintf(w, "\nraw argon2id (m=%d t=%d p=%d): %.1f hashes/s on %d goroutines (%.1f before the login phase, %.1f after), %.1f ms per hash per goroutine, %.1f ms CPU per hash\n",
			h.MemoryKiB, h.Iterations, h.Parallelism, h.PerSecond, h.Workers, h.PerSecondBefore, h.PerSecondAfter, h.MsPerHash, h.CPUMsPerHash)
	}
	if len(r.Ceilings) > 0 {
		c0 := r.Ceilings[0]
		fmt.Fprintf(w, "\npgbench (-M prepared unless the statement says otherwise), %d clients, %d threads, %ds (CPU columns: seconds per 1,000 transactions)\n", c0.Clients, c0.Threads, c0.Seconds)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "statement\ttps\tp50 ms\tp95 ms\tp99 ms\tfailed\tPG CPU\tpgbench CPU\tbusy %\tcheck\t")
		for _, c := range r.Ceilings {
			note := c.Verified
			if c.Error != "" {
				note = c.Error
			}
			fmt.Fprintf(tw, "%s\t%.0f\t%.2f\t%.2f\t%.2f\t%d\t%.3f\t%.3f\t%.0f\t%s\t\n", c.Label, c.TPS, c.Latency.P50Ms, c.Latency.P95Ms,
				c.Latency.P99Ms, c.Failed, c.PostgresCPUPer1k, 1000*ratio(c.Usage.ClientCPUSeconds, float64(c.Transactions)),
				c.Usage.MachineBusyPercent, note)
		}
		tw.Flush()
	}
	if len(r.Sizes) > 0 {
		fmt.Fprintf(w, "\nrefresh /actions by table size (CPU columns: seconds per 1,000 requests; they depend less on other load than latency does)\n")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "sessions\treq/s\tp50 ms\tp95 ms\tp99 ms\terrors\tserver CPU\tPG CPU\tseq scans\tseed s\t")
		for _, s := range r.Sizes {
			fmt.Fprintf(tw, "%d\t%.0f\t%.2f\t%.2f\t%.2f\t%d\t%.3f\t%.3f\t%s\t%.1f\t\n", s.Sessions, s.Refresh.RequestsPerSec,
				s.Refresh.Latency.P50Ms, s.Refresh.Latency.P95Ms, s.Refresh.Latency.P99Ms, s.Refresh.ErrorCount,
				s.Refresh.ServerCPUPer1k, s.Refresh.PostgresCPUPer1k, formatScans(s.Refresh.SeqScans), s.SeedSeconds)
		}
		tw.Flush()
	}
	printScaleOut(w, r)
	printSoak(w, r)
	if in := r.Integrity; in != nil {
		verdict := "OK"
		if !in.OK {
			verdict = "FAILED: " + strings.Join(in.Problems, "; ")
		}
		fmt.Fprintf(w, "\nsessions at the end: %s — %d/%d client sessions hold the client's latest token, %d refreshed once more; %d revoked; live %d = %d seeded + %d logins\n",
			verdict, in.CurrentInDB, in.ClientSessions, in.FinalRefreshOK, in.RevokedSessions, in.LiveSessions, in.SeededSessions, in.Logins)
	}
	if len(r.Targets) > 0 {
		fmt.Fprintf(w, "\ntargets (issues 6 and 19)\n")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, t := range r.Targets {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.Status, t.Name, t.Goal, t.Measured)
		}
		tw.Flush()
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	if r.Error != "" {
		fmt.Fprintf(w, "\nthe run stopped early: %s\n", r.Error)
	}
}

// formatErrors is "0", or the count and the codes: "3 (TIMEOUT 2, INTERNAL 1)".
func formatErrors(n int, byCode map[string]int) string {
	if n == 0 {
		return "0"
	}
	codes := slices.Sorted(maps.Keys(byCode))
	parts := make([]string, 0, len(codes))
	for _, c := range codes {
		parts = append(parts, fmt.Sprintf("%s %d", c, byCode[c]))
	}
	return fmt.Sprintf("%d (%s)", n, strings.Join(parts, ", "))
}

// formatScans is "0", or the tables scanned sequentially: "sessions 1".
func formatScans(m map[string]int64) string {
	if m == nil {
		return "?"
	}
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(m)) {
		if m[name] != 0 {
			parts = append(parts, fmt.Sprintf("%s %d", name, m[name]))
		}
	}
	if len(parts) == 0 {
		return "0"
	}
	return strings.Join(parts, ", ")
}

func firstWords(s string, n int) string {
	f := strings.Fields(s)
	if len(f) > n {
		f = f[:n]
	}
	return strings.Join(f, " ")
}

// printScaleOut writes the scale-out table: the combined figures of both
// servers, beside the single-instance rate of the same operation.
func printScaleOut(w io.Writer, r *Report) {
	so := r.ScaleOut
	if so == nil || len(so.Ops) == 0 {
		return
	}
	fmt.Fprintf(w, "\nscale-out: %d servers through PgBouncer (%s pooling, pool %d), %d clients split evenly, combined (CPU columns: seconds per 1,000 requests, summed over the servers)\n",
		so.Servers, so.PoolMode, so.PoolSize, r.Settings.Clients)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "operation	req/s	× 1 server	p50 ms	p95 ms	p99 ms	max ms	errors	server CPU	PgBouncer CPU	PG CPU	server RSS MB	busy %	")
	for _, o := range so.Ops {
		single := "—"
		if s := r.op(o.Name); s != nil && s.RequestsPerSec > 0 {
			single = fmt.Sprintf("%.2f", o.RequestsPerSec/s.RequestsPerSec)
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%.2f\t%.2f\t%.2f\t%.1f\t%s\t%.3f\t%.3f\t%.3f\t%.1f\t%.0f\t\n", o.Label, o.RequestsPerSec, single,
			o.Latency.P50Ms, o.Latency.P95Ms, o.Latency.P99Ms, o.Latency.MaxMs, formatErrors(o.ErrorCount, o.Errors),
			o.ServerCPUPer1k, o.PgBouncerCPUPer1k, o.PostgresCPUPer1k, float64(o.Usage.ServerPeakRSSBytes)/(1<<20), o.Usage.MachineBusyPercent)
	}
	tw.Flush()
	if in := so.Integrity; in != nil {
		verdict := "OK"
		if !in.OK {
			verdict = "FAILED: " + strings.Join(in.Problems, "; ")
		}
		fmt.Fprintf(w, "scale-out sessions at the end: %s — %d/%d client sessions hold the client's latest token, %d refreshed once more; %d revoked\n",
			verdict, in.CurrentInDB, in.ClientSessions, in.FinalRefreshOK, in.RevokedSessions)
	}
	if rv := so.Revocation; rv != nil {
		fmt.Fprintf(w, "scale-out revocation: server 2's webhook refused a token revoked through server 1 after p50 %.2f ms, p99 %.2f ms, max %.2f ms (%d revocations, %d polls)\n",
			rv.Spread.P50Ms, rv.Spread.P99Ms, rv.Spread.MaxMs, rv.Revocations, rv.Polls)
	}
	for _, n := range so.Notes {
		fmt.Fprintf(w, "scale-out note: %s\n", n)
	}
}

// printSoak writes the soak phase: its load, and the leak counts.
func printSoak(w io.Writer, r *Report) {
	s := r.Soak
	if s == nil {
		return
	}
	o := s.Refresh
	fmt.Fprintf(w, "\nsoak: refresh /actions for %s, %d clients: %.0f req/s, p50 %.2f ms, p99 %.2f ms, errors %s, server peak RSS %.1f MB\n",
		s.Duration, o.Clients, o.RequestsPerSec, o.Latency.P50Ms, o.Latency.P99Ms, formatErrors(o.ErrorCount, o.Errors),
		float64(o.Usage.ServerPeakRSSBytes)/(1<<20))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "after %.0fs idle\tgoroutines\tPG connections\topen files\t\n", s.SettleSeconds)
	fmt.Fprintf(tw, "start\t%d\t%d\t%d\t\n", s.Start.Goroutines, s.Start.PostgresConns, s.Start.OpenFDs)
	fmt.Fprintf(tw, "end\t%d\t%d\t%d\t\n", s.End.Goroutines, s.End.PostgresConns, s.End.OpenFDs)
	tw.Flush()
	verdict := "PASS (end = start)"
	if !s.OK {
		verdict = "FAIL (end ≠ start)"
	}
	fmt.Fprintf(w, "soak leak check: %s\n", verdict)
	for _, e := range append(s.Start.Errors, s.End.Errors...) {
		fmt.Fprintf(w, "soak error: %s\n", e)
	}
}

// scaleOutTargets checks the scale-out phase: no errors, no lost or
// forked sessions, and (information) its rate against one server's.
func scaleOutTargets(r *Report) []TargetCheck {
	so := r.ScaleOut
	if so == nil {
		return nil
	}
	var out []TargetCheck
	for _, o := range so.Ops {
		if o.Requests == 0 {
			continue
		}
		out = append(out, check(o.Label+" errors", "0", float64(o.ErrorCount), o.ErrorCount == 0,
			fmt.Sprintf("%d of %d", o.ErrorCount, o.Requests)))
		if s := r.op(o.Name); s != nil {
			v := ratio(o.OKPerSec, s.OKPerSec)
			out = append(out, info(o.Label+" ÷ one server", v, fmt.Sprintf("%.2f (%.0f / %.0f per s)", v, o.OKPerSec, s.OKPerSec)))
		}
	}
	if in := so.Integrity; in != nil {
		m := fmt.Sprintf("%d/%d client sessions current and refreshed once more", in.CurrentInDB, in.ClientSessions)
		if !in.OK {
			m = strings.Join(in.Problems, "; ")
		}
		out = append(out, check("scale-out: no lost or forked sessions", "all", boolValue(in.OK), in.OK, m))
	}
	out = append(out, check("scale-out: server warning/error log lines (warm-ups included)", "0", float64(so.ServerLogLines),
		so.ServerLogLines == 0, fmt.Sprint(so.ServerLogLines)))
	const spreadCheck = "scale-out: revocation through server 1 refused by server 2"
	if rv := so.Revocation; rv != nil {
		out = append(out, check(spreadCheck, "< 1 s", rv.Spread.MaxMs,
			rv.Spread.MaxMs < 1000, fmt.Sprintf("max %.2f ms, p50 %.2f ms over %d", rv.Spread.MaxMs, rv.Spread.P50Ms, rv.Revocations)))
	} else if so.RevocationError != "" {
		out = append(out, check(spreadCheck, "< 1 s", 0, false, so.RevocationError))
	}
	return out
}
