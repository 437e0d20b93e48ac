package bench

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc CPU times. It is 100 on every
// Linux the tool runs on (sysconf is not reachable without cgo).
const clockTicks = 100

// procCPUTicks returns a process's user+system CPU time, in clock ticks.
func procCPUTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(b)
}

// parseStatCPU reads utime+stime (fields 14 and 15) from /proc/<pid>/stat.
// The command name (field 2) may hold spaces and parentheses, so fields are
// counted from the last ')'.
func parseStatCPU(stat []byte) (int64, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("malformed /proc stat")
	}
	f := strings.Fields(string(stat[i+1:]))
	// f[0] is field 3 (state), so field 14 is f[11].
	if len(f) < 13 {
		return 0, fmt.Errorf("malformed /proc stat: %d fields", len(f))
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("malformed /proc stat times")
	}
	return u + s, nil
}

// procMemory returns a process's resident set size and its peak (VmHWM), in
// bytes.
func procMemory(pid int) (rss, hwm int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	rss, hwm = parseStatusMemory(b)
	return rss, hwm, nil
}

// parseStatusMemory reads VmRSS and VmHWM (kB) from /proc/<pid>/status.
func parseStatusMemory(status []byte) (rss, hwm int64) {
	for line := range strings.SplitSeq(string(status), "\n") {
		name, rest, ok := strings.Cut(line, ":")
		if !ok || (name != "VmRSS" && name != "VmHWM") {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			continue
		}
		if name == "VmRSS" {
			rss = kb << 10
		} else {
			hwm = kb << 10
		}
	}
	return rss, hwm
}

// resetPeakRSS makes VmHWM start again from the current RSS (Linux 4.0+),
// so a phase's peak is its own. It fails harmlessly on older kernels.
func resetPeakRSS(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// machineCPU is the whole machine's CPU time from /proc/stat, in ticks.
type machineCPU struct{ busy, total int64 }

func readMachineCPU() (machineCPU, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return machineCPU{}, err
	}
	return parseProcStat(b)
}

// parseProcStat reads the aggregate "cpu" line: user nice system idle
// iowait irq softirq steal …; idle and iowait are not busy.
func parseProcStat(b []byte) (machineCPU, error) {
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return machineCPU{}, fmt.Errorf("malformed /proc/stat")
	}
	var m machineCPU
	for i, s := range f[1:] {
		if i >= 8 { // guest times are already inside user and nice
			break
		}
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return machineCPU{}, fmt.Errorf("malformed /proc/stat")
		}
		m.total += v
		if i != 3 && i != 4 {
			m.busy += v
		}
	}
	return m, nil
}

// Usage is the resources spent while a phase ran.
type Usage struct {
	Seconds float64 `json:"seconds"`
	// ServerCPUSeconds is the authgate process's user+system CPU (with
	// several servers: their sum).
	ServerCPUSeconds float64 `json:"server_cpu_seconds"`
	// ServerPeakRSSBytes is the authgate process's peak resident memory
	// (with several servers: the largest one's).
	ServerPeakRSSBytes int64 `json:"server_peak_rss_bytes"`
	// PgBouncerCPUSeconds is PgBouncer's CPU, when the servers go through it.
	PgBouncerCPUSeconds float64 `json:"pgbouncer_cpu_seconds,omitempty"`
	// PostgresCPUSeconds is the CPU of the PostgreSQL backends serving the
	// benchmark database (background processes such as the WAL writer are
	// not included).
	PostgresCPUSeconds float64 `json:"postgres_cpu_seconds"`
	// ClientCPUSeconds is the load generator's own CPU (this process, or
	// pgbench's).
	ClientCPUSeconds float64 `json:"client_cpu_seconds"`
	// MachineBusyPercent is how busy all cores were, other users' work
	// included.
	MachineBusyPercent float64 `json:"machine_busy_percent"`
}

// sampler measures a phase: CPU of the server, of the database backends and
// of the load generator, and the server's peak RSS, polled in the
// background.
type sampler struct {
	serverPIDs []int // none: no server
	// proxyPID is a connection pooler (PgBouncer) between the servers and
	// PostgreSQL; 0: none.
	proxyPID  int
	clientPID int
	dbMatch   string
	start     time.Time

	serverTicks0              map[int]int64
	proxyTicks0, clientTicks0 int64
	machine0                  machineCPU
	// hwmReset is whether VmHWM was reset at the start, so that it is this
	// phase's peak and not the process's.
	hwmReset map[int]bool

	mu sync.Mutex
	// peakRSS is each server's peak.
	peakRSS  map[int]int64
	backends map[int]*backend
	stopOnce sync.Once
	stopped  chan struct{}
	done     chan struct{}
}

// backend is one PostgreSQL backend's CPU: when first seen and last seen.
type backend struct{ first, last int64 }

// startSampler begins measuring. dbName picks the PostgreSQL backends to
// count (their command line names the database); clientPID is the load
// generator (0: measured by the caller); serverPID 0 means no server.
func startSampler(serverPID, clientPID int, dbName string) *sampler {
	var pids []int
	if serverPID > 0 {
		pids = []int{serverPID}
	}
	return startSamplerOf(pids, 0, clientPID, dbName)
}

// startSamplerOf is startSampler for several servers (their CPU is summed,
// their peak RSS is the largest one's) and an optional pooler process.
func startSamplerOf(serverPIDs []int, proxyPID, clientPID int, dbName string) *sampler {
	s := &sampler{
		serverPIDs:   serverPIDs,
		proxyPID:     proxyPID,
		clientPID:    clientPID,
		dbMatch:      " " + dbName + " ",
		backends:     map[int]*backend{},
		serverTicks0: map[int]int64{},
		hwmReset:     map[int]bool{},
		peakRSS:      map[int]int64{},
		stopped:      make(chan struct{}),
		done:         make(chan struct{}),
	}
	// Backends that exist now count from their current CPU, so their
	// earlier work (seeding, earlier phases) is not charged to this phase.
	s.scanBackends(true)
	for _, pid := range serverPIDs {
		s.hwmReset[pid] = resetPeakRSS(pid) == nil
		s.serverTicks0[pid], _ = procCPUTicks(pid)
	}
	s.pollRSS()
	if proxyPID > 0 {
		s.proxyTicks0, _ = procCPUTicks(proxyPID)
	}
	if clientPID > 0 {
		s.clientTicks0, _ = procCPUTicks(clientPID)
	}
	s.machine0, _ = readMachineCPU()
	s.start = time.Now()
	go s.loop()
	return s
}

func (s *sampler) loop() {
	defer close(s.done)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for i := 0; ; i++ {
		select {
		case <-s.stopped:
			return
		case <-t.C:
		}
		s.pollRSS()
		if i%2 == 1 {
			s.scanBackends(false)
		}
	}
}

func (s *sampler) pollRSS() {
	for _, pid := range s.serverPIDs {
		if rss, _, err := procMemory(pid); err == nil {
			s.mu.Lock()
			s.peakRSS[pid] = max(s.peakRSS[pid], rss)
			s.mu.Unlock()
		}
	}
}

// scanBackends records the CPU of every PostgreSQL process serving the
// database. A backend that exits between scans loses at most one interval.
func (s *sampler) scanBackends(baseline bool) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, known := s.backends[pid]
		if !known {
			cmd, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			if err != nil || !bytes.HasPrefix(cmd, []byte("postgres: ")) || !bytes.Contains(cmd, []byte(s.dbMatch)) {
				continue
			}
		}
		ticks, err := procCPUTicks(pid)
		if err != nil {
			continue
		}
		if !known {
			b = &backend{}
			if baseline {
				b.first = ticks
			}
			s.backends[pid] = b
		}
		b.last = ticks
	}
}

// stop ends the measurement and returns what was spent.
func (s *sampler) stop() Usage {
	s.stopOnce.Do(func() { close(s.stopped) })
	<-s.done
	s.scanBackends(false)
	u := Usage{Seconds: time.Since(s.start).Seconds()}
	s.pollRSS()
	for _, pid := range s.serverPIDs {
		if t, err := procCPUTicks(pid); err == nil {
			u.ServerCPUSeconds += float64(t-s.serverTicks0[pid]) / clockTicks
		}
		peak := s.peakRSS[pid]
		if _, hwm, err := procMemory(pid); err == nil && s.hwmReset[pid] {
			peak = max(peak, hwm)
		}
		u.ServerPeakRSSBytes = max(u.ServerPeakRSSBytes, peak)
	}
	if s.proxyPID > 0 {
		if t, err := procCPUTicks(s.proxyPID); err == nil {
			u.PgBouncerCPUSeconds = float64(t-s.proxyTicks0) / clockTicks
		}
	}
	if s.clientPID == 0 {
		// The caller fills ClientCPUSeconds in (pgbench, from its exit status).
	} else if t, err := procCPUTicks(s.clientPID); err == nil {
		u.ClientCPUSeconds = float64(t-s.clientTicks0) / clockTicks
	}
	var pg int64
	for _, b := range s.backends {
		pg += b.last - b.first
	}
	u.PostgresCPUSeconds = float64(pg) / clockTicks
	if m, err := readMachineCPU(); err == nil && m.total > s.machine0.total {
		u.MachineBusyPercent = 100 * float64(m.busy-s.machine0.busy) / float64(m.total-s.machine0.total)
	}
	return u
}
