package nomad

import (
	"bytes"
	"encoding/json"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drover-dev/drover/internal/nomadtest"
)

// FuzzDecodeAllocations feeds arbitrary JSON through the path of a node
// allocation list as the watcher reads it: decoded one slim allocation at
// a time (decodeList), turned into the client's types, then groups and
// their metadata built. Nothing may panic, and every target must be
// usable; a list decodeList accepts is one encoding/json accepts.
func FuzzDecodeAllocations(f *testing.F) {
	for _, name := range []string{nomadtest.FixtureNodeAllocations, nomadtest.FixtureNodeAllocations2} {
		f.Add(nomadtest.Fixture(name))
	}
	f.Add(nomadtest.ListJSON(5, nomadtest.Alloc{
		Job: "a/dispatch-1", ParentID: "a", JobMeta: map[string]string{"k": "v"},
		Tasks: []nomadtest.Task{{Name: "x.y", Lifecycle: "prestart", Sidecar: true}},
	}))
	f.Add([]byte(`[null,{"ID":"a","TaskStates":{"t":null},"Job":{"TaskGroups":[null,{"Name":null,"Tasks":[null]}]}}]`))
	f.Add([]byte(`[{"ID":"b","TaskGroup":"g","Name":"j.g[","Job":{"Meta":{"drover.enabled":"false"},"TaskGroups":[{"Name":"g","Tasks":[{"Name":"t","Lifecycle":{}}]}]}}]`))
	f.Add([]byte(`{}`))
	sel, err := NewSelector(Selection{Jobs: []string{"*"}}, Selection{Tasks: []string{"*-proxy"}})
	if err != nil {
		f.Fatal(err)
	}
	b := &Builder{SourceID: "fuzz", Node: fixtureNode, Selector: sel}
	f.Fuzz(func(t *testing.T, data []byte) {
		slim, err := decodeList(bytes.NewReader(data))
		var whole []*slimAlloc
		if wholeErr := json.Unmarshal(data, &whole); err == nil && wholeErr != nil {
			t.Fatalf("decodeList accepted what encoding/json refuses (%v): %q", wholeErr, data)
		}
		if err != nil {
			return
		}
		for _, a := range allocations(slim) {
			if a == nil || !validAllocID(a.ID) {
				continue
			}
			g := b.Group(a, nil)
			again := b.Group(a, &g)
			if !sameGroup(&g, &again) {
				t.Fatalf("rebuilding the same allocation changed its group")
			}
			for _, tg := range g.Targets {
				if tg.Meta == nil || len(tg.Meta.JSONMembers()) == 0 {
					t.Fatalf("target %s without metadata", tg.Key())
				}
				if !json.Valid([]byte("{" + string(tg.Meta.JSONMembers()) + "}")) {
					t.Fatalf("metadata is not valid JSON: %s", tg.Meta.JSONMembers())
				}
				name := LogFileName(tg.Task, tg.Stream, 3)
				if n, ok := tg.MatchFile(name); !ok || n != 3 {
					t.Fatalf("target %s does not match its own file %q", tg.Key(), name)
				}
				if strings.ContainsAny(tg.Task, "/\\") {
					t.Fatalf("task name %q is not a file name prefix", tg.Task)
				}
			}
		}
	})
}

// FuzzParseLogPath checks that a parsed path names a file its target
// matches, and that parsing and naming are inverse.
func FuzzParseLogPath(f *testing.F) {
	for _, s := range []string{
		"/opt/nomad/data/alloc/9c75b10c-c61b-8def-104e-7dab6f20befb/alloc/logs/spam.stdout.0",
		"/a/b/alloc/logs/my.task.stderr.12",
		"/a/b/alloc/logs/.spam.stdout.fifo",
		"x/alloc/logs/a.stdout.stdout.01",
		"alloc/logs/t.stdout.18446744073709551615",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		lf, ok := ParseLogPath(p)
		if !ok {
			return
		}
		name := LogFileName(lf.Task, lf.Stream, lf.N)
		if n, ok := MatchLogFile(name, lf.Task, lf.Stream); !ok || n != lf.N {
			t.Fatalf("%q parsed to %+v, whose name %q does not match", p, lf, name)
		}
		back, ok := ParseLogFileName(name)
		if !ok || back.Task != lf.Task || back.Stream != lf.Stream || back.N != lf.N {
			t.Fatalf("%q -> %+v -> %q -> %+v", p, lf, name, back)
		}
		if base := path.Base(filepath.ToSlash(filepath.Clean(p))); base != name {
			t.Fatalf("%q: base name %q, canonical name %q", p, base, name)
		}
	})
}
