package vector

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// goldenCases name the fixture allocations rendered into testdata.
var goldenCases = []struct {
	name, allocID string
}{
	{"logspam_apps_running", idLogspam},
	{"sleeper_stopped", idSleeper},
	{"hello_batch_complete", idBatch},
	{"quoted_job_api_beside_api_proxy", idQuoted},
}

// renderCases renders every golden case and the placeholder in a format:
// case name -> file.
func renderCases(t testing.TB, format string) map[string]File {
	t.Helper()
	cfg := testConfig("/etc/vector/drover.d", format)
	r, err := NewRenderer(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	groups := fixtureGroups(t)
	out := map[string]File{}
	for _, c := range goldenCases {
		g := groups[c.allocID]
		f, ok, err := r.Alloc(&g)
		if err != nil || !ok {
			t.Fatalf("%s: ok %v, err %v", c.name, ok, err)
		}
		out[c.name] = f
	}
	ph, ok, err := r.Placeholder()
	if err != nil || !ok {
		t.Fatalf("placeholder: ok %v, err %v", ok, err)
	}
	out["placeholder"] = ph
	return out
}

func TestGolden(t *testing.T) {
	for _, format := range Formats {
		for name, f := range renderCases(t, format) {
			path := filepath.Join("testdata", name+"."+format+".golden")
			if *update {
				if err := os.WriteFile(path, f.Data, 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(f.Data, want) {
				t.Errorf("%s differs from %s (run go test -update after checking the change):\n%s", f.Name, path, f.Data)
			}
		}
	}
}
