package checkpoint

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type testState struct {
	Offsets map[string]int64 `json:"offsets"`
}

func TestSaveLoadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	f := File{Path: filepath.Join(dir, "sub", "state.json"), Version: 1}
	var st testState
	found, err := f.Load(&st)
	if found || err != nil {
		t.Fatalf("missing file: found=%v err=%v", found, err)
	}
	for i := int64(1); i <= 3; i++ {
		if err := f.Save(testState{Offsets: map[string]int64{"a": i}}); err != nil {
			t.Fatal(err)
		}
	}
	st = testState{}
	found, err = f.Load(&st)
	if !found || err != nil || st.Offsets["a"] != 3 {
		t.Fatalf("found=%v err=%v state=%v", found, err, st)
	}
	// The previous generation is kept as a backup; no temporary files remain.
	entries, _ := os.ReadDir(filepath.Dir(f.Path))
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, ",") != "state.json,state.json.bak" {
		t.Fatalf("directory holds %v", names)
	}
	fi, _ := os.Stat(f.Path)
	if fi.Mode().Perm() != 0o640 {
		t.Fatalf("mode %v", fi.Mode())
	}
}

func TestLoadCorruptFallsBackToBackup(t *testing.T) {
	dir := t.TempDir()
	f := File{Path: filepath.Join(dir, "state.json"), Version: 1}
	if err := f.Save(testState{Offsets: map[string]int64{"a": 1}}); err != nil {
		t.Fatal(err)
	}
	if err := f.Save(testState{Offsets: map[string]int64{"a": 2}}); err != nil {
		t.Fatal(err)
	}
	// Tear the newest file.
	data, _ := os.ReadFile(f.Path)
	if err := os.WriteFile(f.Path, data[:len(data)/2], 0o640); err != nil {
		t.Fatal(err)
	}
	var st testState
	found, err := f.Load(&st)
	var ce *CorruptError
	if !found || !errors.As(err, &ce) || st.Offsets["a"] != 1 {
		t.Fatalf("found=%v err=%v state=%v", found, err, st)
	}
	// Both unusable: not found, with the error.
	if err := os.WriteFile(f.Path+".bak", []byte("\x00\x00"), 0o640); err != nil {
		t.Fatal(err)
	}
	st = testState{}
	found, err = f.Load(&st)
	if found || !errors.As(err, &ce) {
		t.Fatalf("found=%v err=%v", found, err)
	}
}

func TestLoadMainMissingUsesBackup(t *testing.T) {
	dir := t.TempDir()
	f := File{Path: filepath.Join(dir, "state.json"), Version: 1}
	if err := f.Save(testState{Offsets: map[string]int64{"a": 7}}); err != nil {
		t.Fatal(err)
	}
	// A crash between moving the old file aside and renaming the new one.
	if err := os.Rename(f.Path, f.Path+".bak"); err != nil {
		t.Fatal(err)
	}
	var st testState
	found, err := f.Load(&st)
	if !found || err != nil || st.Offsets["a"] != 7 {
		t.Fatalf("found=%v err=%v state=%v", found, err, st)
	}
}

func TestLoadOtherVersion(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	if err := (File{Path: path, Version: 2}).Save(testState{}); err != nil {
		t.Fatal(err)
	}
	var st testState
	found, err := (File{Path: path, Version: 1}).Load(&st)
	var ce *CorruptError
	if found || !errors.As(err, &ce) || !strings.Contains(err.Error(), "version 2") {
		t.Fatalf("found=%v err=%v", found, err)
	}
}

func TestPathFor(t *testing.T) {
	cases := map[string]string{
		"app":      "/d/checkpoints/file-app.json",
		"a/b":      "/d/checkpoints/file-a%2Fb.json",
		"..":       "/d/checkpoints/file-%2E..json",
		"my.logs":  "/d/checkpoints/file-my.logs.json",
		"x y":      "/d/checkpoints/file-x%20y.json",
		"a%2Fb":    "/d/checkpoints/file-a%252Fb.json",
		"\x00tail": "/d/checkpoints/file-%00tail.json",
	}
	for id, want := range cases {
		if got := PathFor("/d", "file", id); got != want {
			t.Errorf("PathFor(%q) = %q, want %q", id, got, want)
		}
	}
}

func TestWriteAtomicUnwritableDir(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	err := WriteAtomic(filepath.Join(blocker, "state.json"), []byte("{}"), 0o600, true)
	if err == nil || !strings.Contains(err.Error(), "creating state directory") {
		t.Fatalf("err = %v", err)
	}
}

// benchState is a node's checkpoint of n positions, shaped as the file
// sources' states are.
func benchState(n int) any {
	type pos struct {
		AllocID  string    `json:"alloc_id"`
		Stream   string    `json:"stream"`
		File     uint64    `json:"file"`
		Offset   int64     `json:"offset"`
		LastSeen time.Time `json:"last_seen"`
	}
	st := struct {
		AllocDir string `json:"alloc_dir"`
		Streams  []pos  `json:"streams"`
	}{AllocDir: "/opt/nomad/data/alloc"}
	for i := range n {
		st.Streams = append(st.Streams, pos{AllocID: fmt.Sprintf("%08x-0000-4000-8000-000000000000", i),
			Stream: "stdout", File: uint64(i % 10), Offset: int64(i) * 4096, LastSeen: time.Unix(1700000000, int64(i)).UTC()})
	}
	return st
}

// TestEncodeIsTheEnvelope: the hand-written envelope is byte for byte what
// encoding/json writes for it.
func TestEncodeIsTheEnvelope(t *testing.T) {
	st := benchState(3)
	for _, now := range []time.Time{time.Unix(1700000000, 123456789), time.Unix(1700000000, 0), time.Date(2026, 12, 8, 1, 2, 3, 4000, time.FixedZone("x", 3600))} {
		f := File{Path: "/x/state.json", Version: 7}
		got, err := f.encode(st, now)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := json.Marshal(st)
		if err != nil {
			t.Fatal(err)
		}
		want, err := json.Marshal(envelope{Version: 7, WrittenAt: now.UTC(), State: raw})
		if err != nil {
			t.Fatal(err)
		}
		if want = append(want, '\n'); !bytes.Equal(got, want) {
			t.Fatalf("encode:\n got %s\nwant %s", got, want)
		}
	}
	if _, err := (File{Path: "/x"}).encode(func() {}, time.Now()); err == nil {
		t.Fatal("a state that cannot be encoded gave no error")
	}
}

// BenchmarkEncode encodes the checkpoint of 1000 positions (the file
// without its write).
func BenchmarkEncode(b *testing.B) {
	st := benchState(1000)
	f := File{Path: "/x/state.json", Version: 1}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.encode(st, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
}
