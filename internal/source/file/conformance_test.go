package file

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/metrics"
	"github.com/drover-dev/drover/internal/source/sourcetest"
)

// The file source runs the source conformance suite over four files
// rotated by logrotate (rename and create, copytruncate).
func TestConformance(t *testing.T) {
	sourcetest.Run(t, sourcetest.Harness{NewWorld: newFileWorld})
}

// fileWorld is four files s0.log … s3.log in a directory.
type fileWorld struct {
	dir, data string
	cfg       *Config
	rotations int
}

func newFileWorld(t *testing.T) sourcetest.World {
	w := &fileWorld{dir: t.TempDir(), data: t.TempDir()}
	w.cfg = testConfig(filepath.Join(w.dir, "*.log"))
	for s := 0; s < w.Streams(); s++ {
		writeFile(t, w.path(s), "")
	}
	return w
}

func (w *fileWorld) path(s int) string { return filepath.Join(w.dir, fmt.Sprintf("s%d.log", s)) }

func (w *fileWorld) Streams() int { return 4 }

func (w *fileWorld) NewSource(t *testing.T, m *metrics.Component) component.Source {
	cfg := *w.cfg
	src, err := New(component.Context{Kind: component.KindSource, Type: "file", ID: "conformance", DataDir: w.data, Host: "node-1", Metrics: m}, &cfg)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func (w *fileWorld) Append(t *testing.T, s int, recs []string) {
	appendFile(t, w.path(s), strings.Join(recs, "\n")+"\n")
}

func (w *fileWorld) Record(e *event.Event) (int, string, bool) {
	v, ok := e.Get("file")
	if !ok {
		return 0, "", false
	}
	var s int
	if _, err := fmt.Sscanf(filepath.Base(v.Str()), "s%d.log", &s); err != nil {
		return 0, "", false
	}
	return s, string(e.Message), true
}

func (w *fileWorld) Files() *sourcetest.Files {
	return &sourcetest.Files{
		Rotations: []sourcetest.Rotation{
			{Name: "rename-create", ReadFirst: true, Rotate: func(t *testing.T, s int) {
				w.rotations++
				if err := os.Rename(w.path(s), fmt.Sprintf("%s.%d", w.path(s), w.rotations)); err != nil {
					t.Fatal(err)
				}
				writeFile(t, w.path(s), "")
			}},
			{Name: "copytruncate", ReadFirst: true, Rotate: func(t *testing.T, s int) {
				w.rotations++
				in, err := os.Open(w.path(s))
				if err != nil {
					t.Fatal(err)
				}
				defer in.Close()
				out, err := os.Create(fmt.Sprintf("%s.%d", w.path(s), w.rotations))
				if err != nil {
					t.Fatal(err)
				}
				defer out.Close()
				if _, err := io.Copy(out, in); err != nil {
					t.Fatal(err)
				}
				if err := os.Truncate(w.path(s), 0); err != nil {
					t.Fatal(err)
				}
			}},
		},
		Truncate: func(t *testing.T, s int) {
			if err := os.Truncate(w.path(s), 0); err != nil {
				t.Fatal(err)
			}
		},
		Delete: func(t *testing.T, s int) {
			if err := os.Remove(w.path(s)); err != nil {
				t.Fatal(err)
			}
		},
		SetMaxOpenFiles: func(n int) { w.cfg.MaxOpenFiles = n },
	}
}
