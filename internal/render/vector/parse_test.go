package vector

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
	"go.yaml.in/yaml/v3"

	"github.com/drover-dev/drover/internal/discovery/nomad"
)

// vectorFile is the part of a Vector configuration file the renderer
// writes, with Vector's field names.
type vectorFile struct {
	Sources    map[string]vectorSource    `toml:"sources" yaml:"sources"`
	Transforms map[string]vectorTransform `toml:"transforms" yaml:"transforms"`
}

type vectorSource struct {
	Type         string   `toml:"type" yaml:"type"`
	Include      []string `toml:"include" yaml:"include"`
	Exclude      []string `toml:"exclude" yaml:"exclude"`
	ReadFrom     string   `toml:"read_from" yaml:"read_from"`
	MaxLineBytes int64    `toml:"max_line_bytes" yaml:"max_line_bytes"`
	FileKey      string   `toml:"file_key" yaml:"file_key"`
	Fingerprint  struct {
		Strategy string `toml:"strategy" yaml:"strategy"`
	} `toml:"fingerprint" yaml:"fingerprint"`
}

type vectorTransform struct {
	Type   string   `toml:"type" yaml:"type"`
	Inputs []string `toml:"inputs" yaml:"inputs"`
	Source string   `toml:"source" yaml:"source"`
}

// parseVectorFile parses a rendered file strictly: a key the structs do
// not know is an error.
func parseVectorFile(t testing.TB, format string, data []byte) vectorFile {
	t.Helper()
	var vf vectorFile
	switch format {
	case FormatTOML:
		md, err := toml.Decode(string(data), &vf)
		if err != nil {
			t.Fatalf("TOML: %v\n%s", err, data)
		}
		if u := md.Undecoded(); len(u) > 0 {
			t.Fatalf("TOML keys the test does not know: %v", u)
		}
	case FormatYAML:
		dec := yaml.NewDecoder(strings.NewReader(string(data)))
		dec.KnownFields(true)
		if err := dec.Decode(&vf); err != nil {
			t.Fatalf("YAML: %v\n%s", err, data)
		}
	}
	return vf
}

// TestRenderedFilesParse loads every rendered file with a TOML or YAML
// parser and checks what Vector will see: one file source and one remap
// per task, the remap reading its source, names under their prefixes, the
// globs selecting exactly the task's files, and a remap program whose
// .nomad object is the nomad_logs source's metadata.
func TestRenderedFilesParse(t *testing.T) {
	groups := fixtureGroups(t)
	cfg := testConfig("/x", FormatTOML)
	names := cfg.Names()
	for _, format := range Formats {
		for _, c := range goldenCases {
			t.Run(format+"/"+c.name, func(t *testing.T) {
				f := renderCases(t, format)[c.name]
				if strings.Contains(string(f.Data), "$") || strings.Contains(string(f.Data), "SECRET[") {
					t.Errorf("a raw '$' or SECRET[ in the file: Vector would replace $NAME, ${NAME} or SECRET[b.k]")
				}
				vf := parseVectorFile(t, format, f.Data)
				g := groups[c.allocID]
				checkAllocFile(t, names, &g, vf)
			})
		}
		t.Run(format+"/placeholder", func(t *testing.T) {
			vf := parseVectorFile(t, format, renderCases(t, format)["placeholder"].Data)
			src, ok := vf.Sources["drover_source_placeholder"]
			if !ok || src.Type != "file" || len(src.Include) != 1 || len(vf.Sources) != 1 {
				t.Fatalf("placeholder sources: %+v", vf.Sources)
			}
			tr, ok := vf.Transforms["drover_nomad_placeholder"]
			if !ok || tr.Type != "remap" || !reflect.DeepEqual(tr.Inputs, []string{"drover_source_placeholder"}) {
				t.Fatalf("placeholder transforms: %+v", vf.Transforms)
			}
			if !strings.HasPrefix(src.Include[0], "/etc/vector/drover.d/.") {
				t.Errorf("placeholder include %q is not a hidden name in out_dir", src.Include[0])
			}
		})
	}
}

func checkAllocFile(t *testing.T, names Names, g *nomad.Group, vf vectorFile) {
	t.Helper()
	tasks := map[string]*nomad.Target{}
	for i := range g.Targets {
		if g.Targets[i].Stream == nomad.Stdout {
			tasks[g.Targets[i].Task] = &g.Targets[i]
		}
	}
	if len(vf.Sources) != len(tasks) || len(vf.Transforms) != len(tasks) {
		t.Fatalf("%d tasks, %d sources, %d transforms", len(tasks), len(vf.Sources), len(vf.Transforms))
	}
	for task, target := range tasks {
		srcName, trName := names.Source(g.AllocID, task), names.Transform(g.AllocID, task)
		src, ok := vf.Sources[srcName]
		if !ok {
			t.Fatalf("no source %s", srcName)
		}
		tr, ok := vf.Transforms[trName]
		if !ok {
			t.Fatalf("no transform %s", trName)
		}
		if !strings.HasPrefix(trName, DefaultNamePrefix) || strings.HasPrefix(srcName, DefaultNamePrefix) {
			t.Errorf("the pattern %s* must match the transform %s and not the source %s", DefaultNamePrefix, trName, srcName)
		}
		if src.Type != "file" || src.ReadFrom != "beginning" || src.Fingerprint.Strategy != "device_and_inode" ||
			src.MaxLineBytes != DefaultMaxLineBytes || src.FileKey != "file" {
			t.Errorf("source %s: %+v", srcName, src)
		}
		if tr.Type != "remap" || !reflect.DeepEqual(tr.Inputs, []string{srcName}) {
			t.Errorf("transform %s: type %q inputs %v", trName, tr.Type, tr.Inputs)
		}
		checkGlobs(t, target.LogsDir, task, src)
		checkProgram(t, target, tr.Source)
	}
}

// checkGlobs checks, with the glob rules of Vector's file source, which
// names of the log directory the source reads.
func checkGlobs(t *testing.T, logs, task string, src vectorSource) {
	t.Helper()
	cases := map[string]bool{
		task + ".stdout.0":          true,
		task + ".stdout.17":         true,
		task + ".stderr.0":          true,
		task + ".stderr.123456":     true,
		task + ".stdout.1x":         false,
		task + ".stdout.":           false,
		task + ".stdout.0.gz":       false,
		task + ".stdout.-1":         false,
		task + ".stdin.0":           false,
		"." + task + ".stdout.fifo": false,
		"." + task + ".stderr.fifo": false,
		task + "-proxy.stdout.0":    false,
		"x" + task + ".stdout.0":    false,
		task + ".stdout.0/x":        false,
	}
	if task == "api" {
		cases["api-proxy.stdout.0"] = false
	}
	for name, want := range cases {
		if got := vectorSelects(t, src.Include, src.Exclude, logs+"/"+name); got != want {
			t.Errorf("task %q: file %s read = %v, want %v (include %q, exclude %q)", task, name, got, want, src.Include, src.Exclude)
		}
	}
	if vectorSelects(t, src.Include, src.Exclude, "/elsewhere/"+task+".stdout.0") {
		t.Errorf("task %q: a file in another directory is read", task)
	}
}

// checkProgram checks the remap program against the target's metadata as
// the nomad_logs source encodes it.
func checkProgram(t *testing.T, target *nomad.Target, program string) {
	t.Helper()
	p, err := readRemap(program)
	if err != nil {
		t.Fatalf("remap program of %s: %v\n%s", target.Task, err, program)
	}
	var meta map[string]any
	if err := json.Unmarshal([]byte("{"+string(target.Meta.JSONMembers())+"}"), &meta); err != nil {
		t.Fatal(err)
	}
	want := normalize(meta[nomad.FieldNomad])
	if got := normalize(p.nomad); !reflect.DeepEqual(got, want) {
		t.Errorf("task %s: .nomad = %v\nwant (nomad_logs) %v", target.Task, got, want)
	}
	if wantPrefix := target.LogsDir + "/" + target.Task + ".stdout."; p.stdoutPrefix != wantPrefix || p.otherStream != "stderr" {
		t.Errorf("task %s: stream by prefix %q, else %q", target.Task, p.stdoutPrefix, p.otherStream)
	}
}

// normalize makes JSON numbers and the VRL reader's integers comparable.
func normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = normalize(e)
		}
		return out
	case float64:
		return int64(x)
	}
	return v
}
