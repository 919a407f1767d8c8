package examples

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/drover-dev/drover/internal/pipelinetest"
)

// TestDroverTestBlocks runs, as drover test does, every test block of the
// example configurations and of the HCL examples in docs/ (a fenced hcl
// block that holds a test block is a whole configuration).
func TestDroverTestBlocks(t *testing.T) {
	type source struct {
		name string
		src  []byte
	}
	var sources []source
	files, _ := filepath.Glob("*.hcl")
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sources = append(sources, source{f, src})
	}
	fence := regexp.MustCompile("(?s)```hcl\n(.*?)```")
	docs, _ := filepath.Glob("../docs/**/*.md")
	top, _ := filepath.Glob("../docs/*.md")
	for _, f := range append(top, docs...) {
		md, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, m := range fence.FindAllSubmatch(md, -1) {
			if strings.Contains(string(m[1]), "\ntest \"") {
				sources = append(sources, source{f + "#" + string(rune('a'+i)), m[1]})
			}
		}
	}
	withTests := 0
	for _, s := range sources {
		t.Run(s.name, func(t *testing.T) {
			cfg, tests, err := pipelinetest.Load(s.name, s.src)
			if err != nil {
				t.Fatal(err)
			}
			if len(tests) > 0 {
				withTests++
			}
			for _, r := range pipelinetest.Run(cfg, tests) {
				for _, f := range r.Failures {
					t.Errorf("%s: %s", r.Name, f)
				}
			}
		})
	}
	if withTests < 3 {
		t.Errorf("only %d files or doc examples have test blocks; the examples of docs/transforms.md and examples/ should", withTests)
	}
}
