package glob

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestMatcher(t *testing.T) {
	m := newMatcher([]string{"/a/**/*.log", "/b/x.log"}, []string{"/a/**/skip-*.log"})
	for p, want := range map[string]bool{
		"/a/1.log":            true,
		"/a/b/c/2.log":        true,
		"/a/b/skip-3.log":     false,
		"/a/b/3.txt":          false,
		"/b/x.log":            true,
		"/b/y.log":            false,
		"/a/.task.stdout.log": true,
	} {
		if got := m.matches(p); got != want {
			t.Errorf("matches(%s) = %v", p, got)
		}
	}
}

func TestWatchDirs(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"alloc/1/alloc/logs", "alloc/2/alloc/logs", "alloc/3/other"} {
		if err := os.MkdirAll(root+"/"+d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	m := newMatcher([]string{root + "/alloc/*/alloc/logs/*.stdout.*", root + "/static/*.log"}, nil)
	got := strings.Join(m.watchDirs(), ",")
	want := strings.Join([]string{
		root + "/alloc", root + "/alloc/1", root + "/alloc/1/alloc", root + "/alloc/1/alloc/logs",
		root + "/alloc/2", root + "/alloc/2/alloc", root + "/alloc/2/alloc/logs", root + "/alloc/3",
	}, ",")
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

// glob lists the paths an exclude pattern leaves out, with the first
// pattern that does, as configured.
func TestGlobListsExcludedPathsWithTheirRule(t *testing.T) {
	root := t.TempDir()
	for _, f := range []string{"a/1.log", "a/skip-2.log", "a/3.gz", "a/sub/4.log"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	m := newMatcher([]string{root + "/a/*", root + "/a/**/*.log"}, []string{root + "/a/skip-*", root + "//a/*.gz", root + "/a/**/*.gz"})
	in, ex := m.glob()
	if want := []string{root + "/a/1.log", root + "/a/sub/4.log"}; !slices.Equal(in, want) {
		t.Errorf("included %v, want %v", in, want)
	}
	want := []Excluded{
		{Path: root + "/a/3.gz", Rule: fmt.Sprintf("exclude %q", root+"//a/*.gz")},
		{Path: root + "/a/skip-2.log", Rule: fmt.Sprintf("exclude %q", root+"/a/skip-*")},
	}
	if !slices.Equal(ex, want) {
		t.Errorf("excluded %v, want %v", ex, want)
	}
}
