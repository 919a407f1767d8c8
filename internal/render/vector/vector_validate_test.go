package vector

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestVectorValidate runs `vector validate` on rendered files, with a sink
// that reads them through the documented wildcard input, when a vector
// binary is on PATH (or named by DROVER_TEST_VECTOR_BIN). Vector then
// builds every component: it parses the files, compiles the VRL programs
// and checks the globs.
func TestVectorValidate(t *testing.T) {
	bin := os.Getenv("DROVER_TEST_VECTOR_BIN")
	if bin == "" {
		var err error
		if bin, err = exec.LookPath("vector"); err != nil {
			t.Skip("no vector binary on PATH (nor DROVER_TEST_VECTOR_BIN): the rendered files are checked " +
				"with TOML and YAML parsers only; install Vector to run `vector validate` on them")
		}
	}
	for _, format := range Formats {
		t.Run(format, func(t *testing.T) {
			cases := renderCases(t, format)
			withAllocs := t.TempDir()
			for name, f := range cases {
				if name == "placeholder" {
					continue
				}
				if err := os.WriteFile(filepath.Join(withAllocs, f.Name), f.Data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			empty := t.TempDir()
			ph := cases["placeholder"]
			if err := os.WriteFile(filepath.Join(empty, ph.Name), ph.Data, 0o644); err != nil {
				t.Fatal(err)
			}
			for what, dir := range map[string]string{"allocations": withAllocs, "placeholder only": empty} {
				runVectorValidate(t, bin, what, dir)
			}
		})
	}
}

func runVectorValidate(t *testing.T, bin, what, dir string) {
	t.Helper()
	data := t.TempDir()
	main := filepath.Join(t.TempDir(), "vector.toml")
	cfg := "data_dir = " + TOMLString(data) + "\n\n" +
		"[sinks.out]\ntype = \"blackhole\"\ninputs = [\"" + DefaultNamePrefix + "*\"]\n"
	if err := os.WriteFile(main, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "validate", "--config-toml", main, "--config-dir", dir).CombinedOutput()
	if err != nil {
		t.Errorf("vector validate (%s) failed: %v\n%s", what, err, out)
	}
}
