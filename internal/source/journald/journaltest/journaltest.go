// Package journaltest writes real journal files for tests: entries in
// journald's export format are fed to systemd-journal-remote (Debian
// package systemd-journal-remote), which writes them into a journal file
// that journalctl reads with --directory.
//
// A test that needs it fails when systemd-journal-remote is missing, unless
// DROVER_SKIP_JOURNALD=1 asks to skip it; DROVER_JOURNAL_REMOTE names the
// binary when it is not in a usual place.
package journaltest

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Environment variables read by the package.
const (
	// EnvSkip, set to 1, skips the tests that need systemd-journal-remote.
	EnvSkip = "DROVER_SKIP_JOURNALD"
	// EnvBinary names systemd-journal-remote.
	EnvBinary = "DROVER_JOURNAL_REMOTE"
)

// DefaultFile is the journal file Append writes to.
const DefaultFile = "remote.journal"

// Field is one field of an entry. A value that is not printable UTF-8 on
// one line is written in the export format's binary form.
type Field struct {
	Name  string
	Value []byte
}

// Entry is one journal entry. Realtime becomes __REALTIME_TIMESTAMP; the
// Journal adds __MONOTONIC_TIMESTAMP and _BOOT_ID.
type Entry struct {
	Realtime time.Time
	Fields   []Field
}

// Msg returns an entry with MESSAGE msg and further fields given as
// "NAME=value".
func Msg(realtime time.Time, msg string, fields ...string) Entry {
	e := Entry{Realtime: realtime, Fields: []Field{{"MESSAGE", []byte(msg)}}}
	for _, f := range fields {
		name, value, _ := strings.Cut(f, "=")
		e.Fields = append(e.Fields, Field{name, []byte(value)})
	}
	return e
}

// Journal is a directory of journal files written by
// systemd-journal-remote. Its methods may be called from several
// goroutines.
type Journal struct {
	// Dir is the directory to read with journalctl --directory.
	Dir string

	t      testing.TB
	remote string

	mu   sync.Mutex
	boot string
	mono time.Duration
	n    int
}

// Binary returns the path of systemd-journal-remote, or "".
func Binary() string {
	if p := os.Getenv(EnvBinary); p != "" {
		return p
	}
	for _, p := range []string{"/lib/systemd/systemd-journal-remote", "/usr/lib/systemd/systemd-journal-remote"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("systemd-journal-remote"); err == nil {
		return p
	}
	return ""
}

// Require skips t when EnvSkip is set, and fails it when
// systemd-journal-remote or journalctl is missing.
func Require(t testing.TB) string {
	t.Helper()
	if os.Getenv(EnvSkip) == "1" {
		t.Skipf("%s=1: skipping a test that needs systemd-journal-remote", EnvSkip)
	}
	p := Binary()
	if p == "" {
		t.Fatalf("systemd-journal-remote not found (install the Debian package systemd-journal-remote, set %s, or set %s=1 to skip)", EnvBinary, EnvSkip)
	}
	if _, err := exec.LookPath("journalctl"); err != nil {
		t.Fatalf("journalctl not found (install the Debian package systemd, or set %s=1 to skip)", EnvSkip)
	}
	return p
}

// New returns an empty journal directory under t.TempDir().
func New(t testing.TB) *Journal {
	t.Helper()
	remote := Require(t)
	dir := filepath.Join(t.TempDir(), "journal")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return &Journal{Dir: dir, t: t, remote: remote, boot: bootID(1), mono: time.Second}
}

func bootID(n int) string { return fmt.Sprintf("%032x", 0xb007000+n) }

// NewBoot makes the following entries belong to a new boot.
func (j *Journal) NewBoot() {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.n++
	j.boot = bootID(j.n + 1)
	j.mono = time.Second
}

// Append writes entries to DefaultFile.
func (j *Journal) Append(entries ...Entry) { j.AppendFile(DefaultFile, entries...) }

// AppendFile writes entries to the journal file name (ending in
// ".journal") of the directory, creating it when needed.
func (j *Journal) AppendFile(name string, entries ...Entry) {
	j.t.Helper()
	if err := j.Write(name, entries...); err != nil {
		j.t.Fatal(err)
	}
}

// Write is AppendFile returning its error, for goroutines other than the
// test's.
func (j *Journal) Write(name string, entries ...Entry) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	var b bytes.Buffer
	for _, e := range entries {
		j.mono += time.Millisecond
		fmt.Fprintf(&b, "__REALTIME_TIMESTAMP=%d\n__MONOTONIC_TIMESTAMP=%d\n_BOOT_ID=%s\n",
			e.Realtime.UnixMicro(), j.mono.Microseconds(), j.boot)
		for _, f := range e.Fields {
			writeField(&b, f)
		}
		b.WriteByte('\n')
	}
	cmd := exec.Command(j.remote, "--split-mode=none", "--output="+filepath.Join(j.Dir, name), "-")
	cmd.Stdin = &b
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("systemd-journal-remote: %v: %s", err, out)
	}
	return nil
}

// writeField writes one field in the export format.
func writeField(b *bytes.Buffer, f Field) {
	if textual(f.Value) {
		b.WriteString(f.Name)
		b.WriteByte('=')
		b.Write(f.Value)
		b.WriteByte('\n')
		return
	}
	b.WriteString(f.Name)
	b.WriteByte('\n')
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(f.Value)))
	b.Write(n[:])
	b.Write(f.Value)
	b.WriteByte('\n')
}

func textual(v []byte) bool {
	for _, c := range v {
		if c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

// Remove deletes a journal file of the directory, as a vacuum does.
func (j *Journal) Remove(name string) {
	j.t.Helper()
	if err := os.Remove(filepath.Join(j.Dir, name)); err != nil {
		j.t.Fatal(err)
	}
}
