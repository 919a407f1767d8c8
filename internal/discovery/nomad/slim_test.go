package nomad

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/hashicorp/nomad/api"

	"github.com/drover-dev/drover/internal/nomadtest"
)

// TestSlimDecodingBuildsTheSameGroups: groups built from the slim decoding
// of a list equal those built from the API client's full decoding, for
// the recorded fixtures and for one with services, lifecycle hooks and
// meta at every level.
func TestSlimDecodingBuildsTheSameGroups(t *testing.T) {
	lists := map[string][]byte{}
	for _, name := range []string{"node-allocations", "node-allocations-2", "blocking-node-allocs-timeout",
		"allocation-batch-complete", "allocation-logspam-running", "allocation-logspam-stopped"} {
		b, err := json.Marshal(nomadtest.FixtureAllocations(name))
		if err != nil {
			t.Fatal(err)
		}
		lists[name] = b
	}
	rich := nomadtest.FixtureAllocations("node-allocations")
	for _, a := range rich {
		job := a["Job"].(map[string]any)
		job["Meta"] = map[string]any{"team": "payments"}
		for _, tg := range job["TaskGroups"].([]any) {
			g := tg.(map[string]any)
			g["Meta"] = map[string]any{"tier": "web"}
			g["Services"] = []any{
				map[string]any{"Name": "${NOMAD_JOB_NAME}-http", "Tags": []any{"v1"}},
				map[string]any{"Name": "other", "TaskName": "not-this-one"},
			}
			for i, tk := range g["Tasks"].([]any) {
				task := tk.(map[string]any)
				task["Meta"] = map[string]any{"owner": "ops"}
				task["Services"] = []any{map[string]any{"Name": "task-svc", "Tags": []any{"a", "b"}}}
				if i == 0 {
					task["Lifecycle"] = map[string]any{"Hook": "prestart", "Sidecar": true}
				}
			}
		}
	}
	b, err := json.Marshal(rich)
	if err != nil {
		t.Fatal(err)
	}
	lists["rich"] = b

	bl := &Builder{SourceID: "logs", Node: fixtureNode}
	for name, body := range lists {
		var full []*api.Allocation
		if err := json.Unmarshal(body, &full); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var slim []*slimAlloc
		if err := json.Unmarshal(body, &slim); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got := allocations(slim)
		if len(got) != len(full) || len(full) == 0 {
			t.Fatalf("%s: %d allocations from the slim decoding, %d from the full one", name, len(got), len(full))
		}
		byID := map[string]*api.Allocation{}
		for _, a := range full {
			byID[a.ID] = a
		}
		for _, a := range got {
			want := bl.Group(byID[a.ID], nil)
			have := bl.Group(a, nil)
			if len(want.Targets) == 0 {
				t.Fatalf("%s: allocation %s has no targets to compare", name, a.ID)
			}
			if len(have.Targets) != len(want.Targets) {
				t.Fatalf("%s: %d targets from the slim decoding, want %d", name, len(have.Targets), len(want.Targets))
			}
			for i := range want.Targets {
				w, h := want.Targets[i], have.Targets[i]
				if !bytes.Equal(w.Meta.JSONMembers(), h.Meta.JSONMembers()) {
					t.Errorf("%s: metadata differs:\n slim %s\n full %s", name, h.Meta.JSONMembers(), w.Meta.JSONMembers())
				}
				w.Meta, h.Meta = nil, nil
				if w != h {
					t.Errorf("%s: target differs: slim %+v, full %+v", name, h, w)
				}
			}
			want.Targets, have.Targets = nil, nil
			if !reflect.DeepEqual(want, have) {
				t.Errorf("%s: group differs: slim %+v, full %+v", name, have, want)
			}
			if Terminal(a) != Terminal(byID[a.ID]) {
				t.Errorf("%s: Terminal differs", name)
			}
		}
		if name == "rich" && !bytes.Contains(bl.Group(got[0], nil).Targets[0].Meta.JSONMembers(), []byte(`"task-svc"`)) {
			t.Fatalf("rich: services missing from %s", bl.Group(got[0], nil).Targets[0].Meta.JSONMembers())
		}
	}
}

func TestDecodeList(t *testing.T) {
	for _, c := range []struct {
		body string
		n    int
		bad  bool
	}{
		{body: `null`},
		{body: `null0`, bad: true},
		{body: `[]`},
		{body: ` [ {"ID":"a","Job":{"ID":"j","Unknown":[1,2,{"x":null}]}} , {"ID":"b"} ] `, n: 2},
		{body: `{"ID":"a"}`, bad: true},
		{body: `[{"ID":"a"}`, bad: true},
		{body: `[{"ID":"a"}] [`, bad: true},
		{body: `[{"ID":1}]`, bad: true},
		{body: ``, bad: true},
	} {
		got, err := decodeList(strings.NewReader(c.body))
		if (err != nil) != c.bad || len(got) != c.n {
			t.Errorf("%q: %d allocations, error %v", c.body, len(got), err)
		}
	}
}

// TestUnixSocketUsesTheAPIClient: an agent on a unix socket is asked
// through the API client's own transport (lists decoded whole).
func TestUnixSocketUsesTheAPIClient(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Nomad.Address = "unix:///run/nomad.sock"
	w, err := New(Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if w.streams {
		t.Fatal("a unix socket address got the streaming client")
	}
	cfg.Nomad.Address = "http://127.0.0.1:4646"
	if w, err = New(Options{Config: cfg}); err != nil || !w.streams {
		t.Fatalf("an http address: streams %v, error %v", w != nil && w.streams, err)
	}
}
