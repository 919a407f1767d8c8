package checkpoint

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestLoadReported(t *testing.T) {
	dir := t.TempDir()
	f := File{Path: filepath.Join(dir, "state.json"), Version: 1}
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	errs := prometheus.NewCounter(prometheus.CounterOpts{Name: "errors"})
	var st testState

	found, unusable, err := f.LoadReported(&st, log, errs, "reading from the start")
	if found || unusable || err != nil || testutil.ToFloat64(errs) != 0 {
		t.Fatalf("no file: found=%v unusable=%v err=%v", found, unusable, err)
	}
	for i := int64(1); i <= 2; i++ {
		if err := f.Save(testState{Offsets: map[string]int64{"a": i}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(f.Path, []byte("{torn"), 0o640); err != nil {
		t.Fatal(err)
	}
	found, unusable, err = f.LoadReported(&st, log, errs, "reading from the start")
	if !found || unusable || err != nil || st.Offsets["a"] != 1 || !strings.Contains(logs.String(), "previous version") {
		t.Fatalf("torn file: found=%v unusable=%v err=%v state=%v\n%s", found, unusable, err, st, logs.String())
	}
	if err := os.WriteFile(f.Path+".bak", []byte("{torn"), 0o640); err != nil {
		t.Fatal(err)
	}
	found, unusable, err = f.LoadReported(&st, log, errs, "reading from the start")
	if found || !unusable || err != nil || !strings.Contains(logs.String(), "starting without one (reading from the start)") {
		t.Fatalf("both torn: found=%v unusable=%v err=%v\n%s", found, unusable, err, logs.String())
	}
	if v := testutil.ToFloat64(errs); v != 2 {
		t.Fatalf("errors counted %v, want 2", v)
	}
}

func TestLoadReportedUnreadable(t *testing.T) {
	dir := t.TempDir()
	f := File{Path: filepath.Join(dir, "state.json"), Version: 1}
	if err := os.Mkdir(f.Path, 0o750); err != nil { // a directory cannot be read as a file
		t.Fatal(err)
	}
	var st testState
	_, _, err := f.LoadReported(&st, slog.New(slog.DiscardHandler), nil, "")
	if err == nil || !strings.Contains(err.Error(), "loading checkpoint") {
		t.Fatalf("err = %v", err)
	}
}
