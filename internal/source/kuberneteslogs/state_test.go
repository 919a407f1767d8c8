package kuberneteslogs

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/drover-dev/drover/internal/checkpoint"
	"github.com/drover-dev/drover/internal/follow"
	"github.com/drover-dev/drover/internal/tail"
)

func testStore(t *testing.T, path string) *store {
	t.Helper()
	return &store{file: checkpoint.File{Path: path, Version: stateVersion}, log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		errs: prometheus.NewCounter(prometheus.CounterOpts{Name: "test_checkpoint_errors"})}
}

// A checkpoint written by the first release (testdata/checkpoint-v1.json,
// without "later") is read as it was written.
func TestCheckpointOfTheFirstReleaseIsRead(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "checkpoint-v1.json"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "kubernetes_logs-pods.json")
	if err := os.WriteFile(path, data, 0o640); err != nil {
		t.Fatal(err)
	}
	ps, existed, err := testStore(t, path).Load()
	if err != nil || !existed {
		t.Fatalf("Load: %v, existed %v", err, existed)
	}
	f, last := false, uint64(4)
	seen := time.Date(2026, 12, 7, 17, 20, 11, 0, time.UTC)
	want := []follow.Position{
		{Key: "5b1c9d2e-0000-4000-8000-000000000001/api", File: 3, Path: "/var/log/pods/apps_api-7d9_5b1c9d2e-0000-4000-8000-000000000001/api/0.log",
			Fingerprint: tail.Fingerprint{FileID: tail.FileID{Dev: 2049, Ino: 1234}, HeadLen: 1024, HeadCRC: 305419896}, Offset: 4096, LastSeen: seen, AtEnd: &f, LastFile: &last},
		{Key: "5b1c9d2e-0000-4000-8000-000000000002/worker", File: 0, Path: "/var/log/pods/jobs_worker-1_5b1c9d2e-0000-4000-8000-000000000002/worker/1.log",
			Fingerprint: tail.Fingerprint{FileID: tail.FileID{Dev: 2049, Ino: 99}, HeadLen: 310, HeadCRC: 17}, Offset: 310, LastSeen: seen},
	}
	if !reflect.DeepEqual(ps, want) {
		t.Fatalf("loaded\n%+v\nwant\n%+v", ps, want)
	}
}

// The files after a position are saved and read back.
func TestCheckpointKeepsTheLaterFiles(t *testing.T) {
	s := testStore(t, filepath.Join(t.TempDir(), "kubernetes_logs-pods.json"))
	seen := time.Date(2026, 12, 7, 17, 20, 11, 0, time.UTC)
	want := []follow.Position{{Key: "uid-1/api", File: 2, Path: "/var/log/pods/a_b_uid-1/api/0.log.20261207-172011",
		Fingerprint: tail.Fingerprint{FileID: tail.FileID{Dev: 1, Ino: 2}, HeadLen: 1024, HeadCRC: 3}, Offset: 77, LastSeen: seen,
		Later: []follow.LaterFile{
			{Name: "0.log", Fingerprint: tail.Fingerprint{FileID: tail.FileID{Dev: 1, Ino: 5}, HeadLen: 1024, HeadCRC: 6}},
			{Name: "1.log", Fingerprint: tail.Fingerprint{FileID: tail.FileID{Dev: 1, Ino: 7}, HeadLen: 80, HeadCRC: 8}},
		}}}
	if err := s.Save(want); err != nil {
		t.Fatal(err)
	}
	got, _, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("loaded\n%+v\nwant\n%+v", got, want)
	}
}
