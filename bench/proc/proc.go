// Package proc reads a process's CPU time and memory from Linux's /proc,
// for drover's end-to-end benchmarks.
package proc

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Sample is one reading of a process.
type Sample struct {
	// CPU is user plus system time (utime + stime of /proc/<pid>/stat).
	CPU time.Duration
	// RSS is the resident set now (VmRSS), PeakRSS its high-water mark
	// (VmHWM), in bytes.
	RSS, PeakRSS int64
}

// Read samples process pid.
func Read(pid int) (Sample, error) {
	var s Sample
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, fmt.Errorf("reading CPU time of process %d: %w", pid, err)
	}
	// The command name (field 2) may hold spaces; fields after it start
	// behind its closing parenthesis.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return s, fmt.Errorf("process %d: unexpected /proc stat %q", pid, stat)
	}
	f := strings.Fields(string(stat[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return s, fmt.Errorf("process %d: short /proc stat %q", pid, stat)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return s, fmt.Errorf("process %d: bad utime/stime in %q", pid, stat)
	}
	s.CPU = time.Duration(ut+st) * time.Second / time.Duration(clockTicks())
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, fmt.Errorf("reading memory of process %d: %w", pid, err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return s, fmt.Errorf("process %d: bad %s %q", pid, k, v)
		}
		if k == "VmRSS" {
			s.RSS = kb << 10
		} else {
			s.PeakRSS = kb << 10
		}
	}
	return s, nil
}

var (
	ticksOnce sync.Once
	ticks     int64
)

// clockTicks is the unit of utime and stime (USER_HZ): AT_CLKTCK of the
// auxiliary vector, 100 when it cannot be read.
func clockTicks() int64 {
	ticksOnce.Do(func() {
		ticks = 100
		auxv, err := os.ReadFile("/proc/self/auxv")
		if err != nil {
			return
		}
		const atClkTck = 17
		for i := 0; i+16 <= len(auxv); i += 16 {
			k := binary.NativeEndian.Uint64(auxv[i:])
			v := binary.NativeEndian.Uint64(auxv[i+8:])
			if k == atClkTck && v > 0 {
				ticks = int64(v)
				return
			}
		}
	})
	return ticks
}

// LoadAverage returns the 1, 5 and 15 minute load averages of
// /proc/loadavg.
func LoadAverage() ([3]float64, error) {
	var l [3]float64
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return l, fmt.Errorf("reading the load average: %w", err)
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return l, fmt.Errorf("unexpected /proc/loadavg %q", b)
	}
	for i := range l {
		if l[i], err = strconv.ParseFloat(f[i], 64); err != nil {
			return l, fmt.Errorf("unexpected /proc/loadavg %q", b)
		}
	}
	return l, nil
}
