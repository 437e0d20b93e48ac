package bench

import (
	"context"
	"database/sql"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Machine describes where a run happened.
type Machine struct {
	OS              string            `json:"os"`
	Arch            string            `json:"arch"`
	Kernel          string            `json:"kernel"`
	CPUModel        string            `json:"cpu_model"`
	NumCPU          int               `json:"nproc"`
	GOMAXPROCS      int               `json:"gomaxprocs"`
	MemTotalBytes   int64             `json:"mem_total_bytes"`
	LoadAvgAtStart  string            `json:"loadavg_at_start"`
	GoVersion       string            `json:"go_version"`
	PostgresVersion string            `json:"postgres_version"`
	PostgresConfig  map[string]string `json:"postgres_settings"`
	PgbenchVersion  string            `json:"pgbench_version"`
}

// machineFacts gathers what is known about this machine and the database
// server; what cannot be read is left empty.
func machineFacts(ctx context.Context, admin *sql.DB, pgbench string) Machine {
	m := Machine{OS: runtime.GOOS, Arch: runtime.GOARCH, NumCPU: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0),
		GoVersion: runtime.Version(), PostgresConfig: map[string]string{}}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		m.LoadAvgAtStart = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				f := strings.Fields(rest)
				if len(f) > 0 {
					kb, _ := strconv.ParseInt(f[0], 10, 64)
					m.MemTotalBytes = kb << 10
				}
			}
		}
	}
	_ = admin.QueryRowContext(ctx, "SELECT version()").Scan(&m.PostgresVersion)
	rows, err := admin.QueryContext(ctx, `SELECT name, setting || coalesce(' ' || unit, '') FROM pg_settings
		WHERE name IN ('shared_buffers', 'max_connections', 'synchronous_commit', 'fsync', 'wal_sync_method',
		               'plan_cache_mode', 'jit', 'work_mem', 'max_wal_size', 'checkpoint_timeout')`)
	if err == nil {
		for rows.Next() {
			var k, v string
			if rows.Scan(&k, &v) == nil {
				m.PostgresConfig[k] = v
			}
		}
		rows.Close()
	}
	vctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(vctx, pgbench, "--version").Output(); err == nil {
		m.PgbenchVersion = strings.TrimSpace(string(out))
	}
	return m
}
