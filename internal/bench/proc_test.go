package bench

import (
	"os"
	"testing"
)

func TestParseStatCPU(t *testing.T) {
	// The command name may contain spaces and parentheses.
	stat := "4242 (auth gate) (x)) S 1 4242 4242 0 -1 4194560 1234 0 0 0 150 25 0 0 20 0 12 0 100 0 0\n"
	got, err := parseStatCPU([]byte(stat))
	if err != nil || got != 175 {
		t.Errorf("parseStatCPU = %d, %v; want 175", got, err)
	}
	if _, err := parseStatCPU([]byte("garbage")); err == nil {
		t.Error("garbage parsed")
	}
}

func TestParseStatusMemory(t *testing.T) {
	status := "Name:\tauthgate\nVmPeak:\t  900000 kB\nVmHWM:\t   51200 kB\nVmRSS:\t   40960 kB\nThreads:\t9\n"
	rss, hwm := parseStatusMemory([]byte(status))
	if rss != 40960<<10 || hwm != 51200<<10 {
		t.Errorf("parseStatusMemory = %d, %d", rss, hwm)
	}
}

func TestParseProcStat(t *testing.T) {
	b := "cpu  100 5 50 800 40 3 2 0 7 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n"
	got, err := parseProcStat([]byte(b))
	if err != nil {
		t.Fatal(err)
	}
	// busy: user nice system irq softirq steal; idle and iowait are not busy;
	// guest (7) is already inside user.
	if want := (machineCPU{busy: 160, total: 1000}); got != want {
		t.Errorf("parseProcStat = %+v, want %+v", got, want)
	}
}

func TestSamplerMeasuresThisProcess(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc on this system")
	}
	s := startSampler(os.Getpid(), os.Getpid(), "no-such-database-name")
	x := 0
	for i := range 20_000_000 {
		x += i % 7
	}
	_ = x
	u := s.stop()
	if u.ServerPeakRSSBytes <= 0 || u.Seconds <= 0 || u.PostgresCPUSeconds != 0 {
		t.Errorf("usage = %+v", u)
	}
}
