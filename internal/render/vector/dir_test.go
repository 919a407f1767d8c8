package vector

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

const (
	idA = "aaaaaaaa-0000-4000-8000-000000000001"
	idB = "bbbbbbbb-0000-4000-8000-000000000002"
)

func testNames() Names {
	return Names{FilePrefix: DefaultFilePrefix, SourcePrefix: DefaultSourcePrefix, TransformPrefix: DefaultNamePrefix}
}

func writeFile(t *testing.T, dir, name, data string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

// userFiles are files of the directory that are not drover's; no test
// may ever see them change.
var userFiles = map[string]string{
	"sinks.toml":                   "[sinks.out]\ntype = \"console\"\n",
	"drover_nomad_sinks.toml":      "# a user's file with drover's prefix\n",
	"drover_nomad_" + idA + ".yml": "# .yml is not a format drover writes\n",
	"notes.txt":                    "keep me\n",
	".hidden.toml.tmp-1":           "someone else's temporary file\n",
}

func seedUserFiles(t *testing.T, dir string) {
	t.Helper()
	for name, data := range userFiles {
		writeFile(t, dir, name, data)
	}
	if err := os.Mkdir(filepath.Join(dir, "drover_nomad_"+idB+".toml"), 0o755); err != nil {
		t.Fatal(err) // a directory with one of drover's names is not a file
	}
}

func checkUserFiles(t *testing.T, dir string) {
	t.Helper()
	for name, data := range userFiles {
		if got := readFile(t, dir, name); got != data {
			t.Errorf("user file %s changed: %q", name, got)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, "drover_nomad_"+idB+".toml")); err != nil || !fi.IsDir() {
		t.Errorf("the user's directory is gone: %v", err)
	}
}

func TestApplyLeavesUserFilesAlone(t *testing.T) {
	dir := t.TempDir()
	seedUserFiles(t, dir)
	writeFile(t, dir, "drover_nomad_"+idA+".toml", "old")
	writeFile(t, dir, ".drover_nomad_"+idA+".toml.tmp-42", "leftover of a crash")
	d, err := OpenDir(dir, testNames())
	if err != nil {
		t.Fatal(err)
	}
	// No allocation at all, no placeholder: drover's files go, nothing else.
	rep, err := d.Apply(Plan{})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(rep.Removed)
	if want := []string{".drover_nomad_" + idA + ".toml.tmp-42", "drover_nomad_" + idA + ".toml"}; !slices.Equal(rep.Removed, want) {
		t.Errorf("removed %v, want %v", rep.Removed, want)
	}
	if len(rep.Files) != 0 || len(rep.Written) != 0 {
		t.Errorf("report: %+v", rep)
	}
	checkUserFiles(t, dir)
}

func TestApplyWritesAtomicallyAndOnlyChanges(t *testing.T) {
	dir := t.TempDir()
	d, err := OpenDir(filepath.Join(dir, "new", "out"), testNames())
	if err != nil {
		t.Fatal(err)
	}
	nameA := testNames().AllocFile(idA, FormatTOML)
	plan := Plan{Write: map[string]File{idA: {Name: nameA, Data: []byte("a = 1\n")}}}
	rep, err := d.Apply(plan)
	if err != nil || !slices.Equal(rep.Written, []string{nameA}) {
		t.Fatalf("first apply: %+v %v", rep, err)
	}
	path := filepath.Join(d.Path(), nameA)
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("mode: %v %v", fi, err)
	}
	if fi, _ := os.Stat(d.Path()); fi.Mode().Perm() != 0o755 {
		t.Errorf("directory mode %v", fi.Mode().Perm())
	}
	ino := inode(t, path)
	// Same contents: the file is not touched (Vector does not reload).
	rep, err = d.Apply(plan)
	if err != nil || len(rep.Written) != 0 || inode(t, path) != ino {
		t.Fatalf("unchanged apply: %+v %v", rep, err)
	}
	// New contents: a new file renamed over the old one (a reader sees
	// the old or the new file, never a partial one).
	plan.Write[idA] = File{Name: nameA, Data: []byte("a = 2\n")}
	if rep, err = d.Apply(plan); err != nil || !slices.Equal(rep.Written, []string{nameA}) {
		t.Fatalf("changed apply: %+v %v", rep, err)
	}
	if inode(t, path) == ino || readFile(t, d.Path(), nameA) != "a = 2\n" {
		t.Errorf("the file was not replaced by rename")
	}
	entries, _ := os.ReadDir(d.Path())
	if len(entries) != 1 {
		t.Errorf("left over: %v", entries)
	}
}

func TestApplyFormatChangeAndKeep(t *testing.T) {
	dir := t.TempDir()
	n := testNames()
	writeFile(t, dir, n.AllocFile(idA, FormatTOML), "toml")
	writeFile(t, dir, n.AllocFile(idB, FormatTOML), "kept as it is")
	d, _ := OpenDir(dir, n)
	rep, err := d.Apply(Plan{
		Write: map[string]File{idA: {Name: n.AllocFile(idA, FormatYAML), Data: []byte("a: 1\n")}},
		Keep:  map[string]bool{idB: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.Removed, []string{n.AllocFile(idA, FormatTOML)}) || !slices.Equal(rep.Written, []string{n.AllocFile(idA, FormatYAML)}) {
		t.Errorf("report %+v", rep)
	}
	if readFile(t, dir, n.AllocFile(idB, FormatTOML)) != "kept as it is" {
		t.Error("kept file changed")
	}
}

func TestApplyPlaceholder(t *testing.T) {
	dir := t.TempDir()
	n := testNames()
	d, _ := OpenDir(dir, n)
	ph := &File{Name: n.PlaceholderFile(FormatTOML), Data: []byte("p = 1\n")}
	// Nothing to write: the placeholder is.
	rep, err := d.Apply(Plan{Placeholder: ph})
	if err != nil || !slices.Equal(rep.Files, []string{ph.Name}) {
		t.Fatalf("%+v %v", rep, err)
	}
	// An allocation arrives: it is written, then the placeholder goes.
	a := File{Name: n.AllocFile(idA, FormatTOML), Data: []byte("a = 1\n")}
	rep, err = d.Apply(Plan{Write: map[string]File{idA: a}, Placeholder: ph})
	if err != nil || !slices.Equal(rep.Written, []string{a.Name}) || !slices.Equal(rep.Removed, []string{ph.Name}) {
		t.Fatalf("%+v %v", rep, err)
	}
	// A kept allocation file also counts: no placeholder.
	rep, err = d.Apply(Plan{Keep: map[string]bool{idA: true}, Placeholder: ph})
	if err != nil || !slices.Equal(rep.Files, []string{a.Name}) {
		t.Fatalf("%+v %v", rep, err)
	}
	// A kept key without a file does not.
	rep, err = d.Apply(Plan{Keep: map[string]bool{idB: true}, Placeholder: ph})
	if err != nil || !slices.Equal(rep.Files, []string{ph.Name}) {
		t.Fatalf("%+v %v", rep, err)
	}
}

func TestDirRefusesForeignNames(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "sinks.toml", "x")
	d, _ := OpenDir(dir, testNames())
	if _, err := d.Write("sinks.toml", []byte("y")); err == nil {
		t.Error("Write of a foreign name succeeded")
	}
	if err := d.Remove("sinks.toml"); err == nil {
		t.Error("Remove of a foreign name succeeded")
	}
	if _, err := d.Write(".drover_nomad_"+idA+".toml.tmp-1", []byte("y")); err == nil {
		t.Error("Write of a temporary name succeeded")
	}
	if readFile(t, dir, "sinks.toml") != "x" {
		t.Error("foreign file changed")
	}
	if err := d.Remove(testNames().AllocFile(idA, FormatTOML)); err != nil {
		t.Errorf("removing a missing file: %v", err)
	}
}

func TestApplyReportsErrors(t *testing.T) {
	dir := t.TempDir()
	name := testNames().AllocFile(idA, FormatTOML)
	// A directory where the file should be: the rename cannot replace it.
	if err := os.MkdirAll(filepath.Join(dir, name, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	d, _ := OpenDir(dir, testNames())
	_, err := d.Apply(Plan{Write: map[string]File{idA: {Name: name, Data: []byte("a = 1\n")}}})
	if err == nil || !strings.Contains(err.Error(), name) {
		t.Fatalf("err = %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("a failed write left %v", entries)
	}
}

// A directory removed while drover runs is made again.
func TestApplyRecreatesTheDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	d, err := OpenDir(dir, testNames())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	name := testNames().AllocFile(idA, FormatTOML)
	rep, err := d.Apply(Plan{Write: map[string]File{idA: {Name: name, Data: []byte("a = 1\n")}}})
	if err != nil || !slices.Equal(rep.Files, []string{name}) {
		t.Fatalf("%+v %v", rep, err)
	}
}
