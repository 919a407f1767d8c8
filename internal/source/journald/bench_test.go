package journald

import (
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/event"
)

// benchLine is a typical entry of a Nomad client node, as journalctl
// --output=json --all prints it.
const benchLine = `{"__CURSOR":"s=7f3c1e0b2d6a4c0f9e1b5a7d3c2e1f00;i=1a2b3c;b=0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f50;m=1b2c3d4e5f;t=60a2418890fc0;x=dcf22d859b601883",` +
	`"__REALTIME_TIMESTAMP":"1700000000123456","__MONOTONIC_TIMESTAMP":"117285166431","_BOOT_ID":"0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f50",` +
	`"_TRANSPORT":"stdout","PRIORITY":"6","SYSLOG_FACILITY":"3","SYSLOG_IDENTIFIER":"nomad","_PID":"1234","_UID":"0","_GID":"0",` +
	`"_COMM":"nomad","_EXE":"/usr/local/bin/nomad","_CMDLINE":"/usr/local/bin/nomad agent -config /etc/nomad.d",` +
	`"_CAP_EFFECTIVE":"1ffffffffff","_SELINUX_CONTEXT":"unconfined\n","_SYSTEMD_CGROUP":"/system.slice/nomad.service",` +
	`"_SYSTEMD_UNIT":"nomad.service","_SYSTEMD_SLICE":"system.slice","_SYSTEMD_INVOCATION_ID":"9a8b7c6d5e4f30211f2e3d4c5b6a7980",` +
	`"_STREAM_ID":"5e4f30211f2e3d4c5b6a79809a8b7c6d","_MACHINE_ID":"3d4c5b6a79809a8b7c6d5e4f30211f2e","_HOSTNAME":"client-07",` +
	`"MESSAGE":"    2026-11-21T12:00:00.123Z [INFO]  client.alloc_runner.task_runner: Task event: alloc_id=5f0c3a2e-7b1d-4e8a-9c6f-2d4b8e1a7c30 task=web type=Started msg=\"Task started by client\" failed=false"}`

// BenchmarkDecodeEntry decodes a journalctl line and builds its event, as
// the source does for every entry; allocs/op is allocations per entry.
func BenchmarkDecodeEntry(b *testing.B) {
	cfg := NewConfig()
	cfg.ExcludeMatches = map[string][]string{"PRIORITY": {"7"}}
	bld := newBuilder("bench", "host", cfg)
	line := []byte(benchLine)
	var e rawEntry
	evs := make([]event.Event, 1000)
	now := time.Now()
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := decodeEntry(line, &e); err != nil {
			b.Fatal(err)
		}
		if bld.excluded(&e) {
			b.Fatal("excluded")
		}
		bld.build(&evs[i%len(evs)], &e, now)
	}
}

// BenchmarkDecodeOnly is the JSON decoding alone.
func BenchmarkDecodeOnly(b *testing.B) {
	line := []byte(benchLine)
	var e rawEntry
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		if err := decodeEntry(line, &e); err != nil {
			b.Fatal(err)
		}
	}
}
