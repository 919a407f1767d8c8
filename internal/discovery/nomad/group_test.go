package nomad

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	"github.com/hashicorp/nomad/api"

	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/nomadtest"
)

// fixtureNode is the captured node as ResolveNode sees it.
var fixtureNode = Node{
	ID: nomadtest.FixtureNodeID, Name: nomadtest.FixtureNodeName, Datacenter: nomadtest.FixtureDatacenter,
	Region: nomadtest.FixtureRegion, AllocDir: nomadtest.FixtureDataDir + "/alloc",
}

func decodeAllocs(t testing.TB, body []byte) []*api.Allocation {
	t.Helper()
	var out []*api.Allocation
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("decoding allocations: %v", err)
	}
	return out
}

func decodeAlloc(t testing.TB, a nomadtest.Alloc) *api.Allocation {
	t.Helper()
	var out *api.Allocation
	if err := json.Unmarshal(a.JSON(10), &out); err != nil {
		t.Fatalf("decoding allocation: %v", err)
	}
	return out
}

// genericAllocs decodes a fixture into generic objects, the independent
// view the expectations are read from.
func genericAllocs(t *testing.T, name string) []map[string]any {
	t.Helper()
	return nomadtest.FixtureAllocations(name)
}

func getStr(t *testing.T, m *event.Meta, path string) string {
	t.Helper()
	v, ok := m.Fields.Get(path)
	if !ok {
		return "<absent>"
	}
	if v.Kind() != event.KindString {
		t.Fatalf("%s is not a string: %v", path, v.Kind())
	}
	return v.Str()
}

// TestFixtureAllocationsDecode builds the groups of every captured
// allocation and checks each target's metadata against the fixture's own
// values.
func TestFixtureAllocationsDecode(t *testing.T) {
	b := &Builder{SourceID: "logs", Node: fixtureNode}
	for _, name := range []string{
		nomadtest.FixtureNodeAllocations, nomadtest.FixtureNodeAllocations2, nomadtest.FixtureBlockingNodeAllocTimeout,
		nomadtest.FixtureAllocLogspamRunning, nomadtest.FixtureAllocLogspamRestarted,
		nomadtest.FixtureAllocLogspamStopped, nomadtest.FixtureAllocBatchComplete,
	} {
		generic := genericAllocs(t, name)
		body := nomadtest.Fixture(name)
		if body[0] == '{' {
			body = append(append([]byte{'['}, body...), ']')
		}
		allocs := decodeAllocs(t, body)
		if len(allocs) != len(generic) || len(allocs) == 0 {
			t.Fatalf("%s: %d allocations, generic view has %d", name, len(allocs), len(generic))
		}
		for i, a := range allocs {
			g := b.Group(a, nil)
			raw := generic[i]
			job := raw["Job"].(map[string]any)
			tasks := taskNamesOf(raw)
			if len(g.Targets) != 2*len(tasks) {
				t.Fatalf("%s/%s: %d targets for tasks %v", name, a.ID, len(g.Targets), tasks)
			}
			if g.AllocID != raw["ID"] || g.ClientStatus != raw["ClientStatus"] || g.DesiredStatus != raw["DesiredStatus"] {
				t.Errorf("%s: group %+v", name, g)
			}
			for j, tg := range g.Targets {
				task, stream := tasks[j/2], Streams[j%2]
				if tg.Task != task || tg.Stream != stream || tg.AllocID != raw["ID"] {
					t.Errorf("%s: target %d = %s/%s", name, j, tg.Task, tg.Stream)
				}
				if want := nomadtest.FixtureDataDir + "/alloc/" + raw["ID"].(string) + "/alloc/logs"; tg.LogsDir != want {
					t.Errorf("%s: LogsDir = %q, want %q", name, tg.LogsDir, want)
				}
				state := raw["TaskStates"].(map[string]any)[task].(map[string]any)["State"]
				if tg.TaskState != state {
					t.Errorf("%s: task state %q, fixture %q", name, tg.TaskState, state)
				}
				m := tg.Meta
				if m.Source != "logs" {
					t.Errorf("Meta.Source = %q", m.Source)
				}
				checks := map[string]string{
					"source_type":           "nomad_logs",
					"host":                  raw["NodeName"].(string),
					"stream":                string(stream),
					"nomad.namespace":       raw["Namespace"].(string),
					"nomad.region":          job["Region"].(string),
					"nomad.datacenter":      nomadtest.FixtureDatacenter,
					"nomad.node_id":         raw["NodeID"].(string),
					"nomad.node_name":       raw["NodeName"].(string),
					"nomad.job_name":        raw["JobID"].(string),
					"nomad.job_type":        job["Type"].(string),
					"nomad.parent_job_name": "<absent>", // ParentID is "" in every capture
					"nomad.group_name":      raw["TaskGroup"].(string),
					"nomad.task_name":       task,
					"nomad.alloc_id":        raw["ID"].(string),
					"nomad.alloc_name":      raw["Name"].(string),
					"nomad.meta":            "<absent>", // no meta in the captures
				}
				for path, want := range checks {
					if got := getStr(t, m, path); got != want {
						t.Errorf("%s/%s: %s = %q, fixture says %v", name, a.ID, path, got, want)
					}
				}
				idx, _ := m.Fields.Get("nomad.alloc_index")
				if idx.Kind() != event.KindInt || idx.Int() != 0 {
					t.Errorf("%s: alloc_index = %v", name, idx)
				}
			}
		}
	}
}

func taskNamesOf(raw map[string]any) []string {
	var out []string
	job := raw["Job"].(map[string]any)
	for _, tg := range job["TaskGroups"].([]any) {
		tgm := tg.(map[string]any)
		if tgm["Name"] != raw["TaskGroup"] {
			continue
		}
		for _, task := range tgm["Tasks"].([]any) {
			out = append(out, task.(map[string]any)["Name"].(string))
		}
	}
	return out
}

// TestFixtureMetaJSON pins the exact encoding of the captured running
// allocation's stdout metadata.
func TestFixtureMetaJSON(t *testing.T) {
	allocs := decodeAllocs(t, nomadtest.Fixture(nomadtest.FixtureNodeAllocations))
	g := (&Builder{SourceID: "logs", Node: fixtureNode}).Group(allocs[0], nil)
	want := `"source_type":"nomad_logs","host":"anchor-node","stream":"stdout","nomad":{` +
		`"namespace":"apps","region":"global","datacenter":"dc1",` +
		`"node_id":"6f986d5f-16ad-4f62-e284-9cb5da6ee2da","node_name":"anchor-node",` +
		`"job_name":"logspam","job_type":"service","group_name":"spam","task_name":"spam",` +
		`"alloc_id":"9c75b10c-c61b-8def-104e-7dab6f20befb","alloc_name":"logspam.spam[0]","alloc_index":0}`
	if got := string(g.Targets[0].Meta.JSONMembers()); got != want {
		t.Errorf("meta JSON:\n got %s\nwant %s", got, want)
	}
	// stdout and stderr share the "nomad" object.
	a, _ := g.Targets[0].Meta.Fields.Lookup("nomad")
	b, _ := g.Targets[1].Meta.Fields.Lookup("nomad")
	if a.Object() != b.Object() {
		t.Error("stdout and stderr should share one nomad object")
	}
}

func TestFixtureTerminal(t *testing.T) {
	want := map[string]bool{
		"9c75b10c-c61b-8def-104e-7dab6f20befb": false, // logspam running
		"117b2aa3-2c2e-f78c-2948-289cdcf59360": true,  // sleeper complete/stop
		"14cd2c62-4f67-2fcb-d0c0-81c1f2a825c2": true,  // hello-batch complete/run
	}
	for _, a := range decodeAllocs(t, nomadtest.Fixture(nomadtest.FixtureNodeAllocations)) {
		if got := Terminal(a); got != want[a.ID] {
			t.Errorf("%s (%s/%s): Terminal = %v", a.ID, a.ClientStatus, a.DesiredStatus, got)
		}
	}
	stopped := decodeAllocs(t, append(append([]byte{'['}, nomadtest.Fixture(nomadtest.FixtureAllocLogspamStopped)...), ']'))
	if !Terminal(stopped[0]) {
		t.Error("stopped logspam: want terminal")
	}
}

func TestTerminal(t *testing.T) {
	st := func(states ...string) map[string]*api.TaskState {
		m := map[string]*api.TaskState{}
		for i, s := range states {
			m[fmt.Sprint("t", i)] = &api.TaskState{State: s}
		}
		return m
	}
	cases := []struct {
		client, desired string
		states          map[string]*api.TaskState
		want            bool
	}{
		{"running", "run", st("running"), false},
		{"pending", "run", st("pending"), false},
		{"complete", "run", st("dead"), true},
		{"failed", "run", st("dead"), true},
		{"lost", "run", st("running"), true},
		{"running", "stop", st("running", "dead"), false},
		{"running", "stop", st("dead", "dead"), true},
		{"pending", "evict", st("pending"), true},
		{"running", "evict", nil, true},
		{"unknown", "run", st("running"), false},
	}
	for _, c := range cases {
		a := &api.Allocation{ClientStatus: c.client, DesiredStatus: c.desired, TaskStates: c.states}
		if got := Terminal(a); got != c.want {
			t.Errorf("%s/%s %v: Terminal = %v, want %v", c.client, c.desired, c.states, got, c.want)
		}
	}
}

func TestMetaOverlay(t *testing.T) {
	a := decodeAlloc(t, nomadtest.Alloc{
		JobMeta:   map[string]string{"a": "job", "b": "job", "c": "job", "drover.enabled": "true"},
		GroupMeta: map[string]string{"b": "group", "c": "group"},
		Tasks: []nomadtest.Task{
			{Name: "app", Meta: map[string]string{"c": "task"}},
			{Name: "other"},
		},
	})
	g := (&Builder{Node: fixtureNode}).Group(a, nil)
	want := map[string]map[string]string{
		"app":   {"a": "job", "b": "group", "c": "task", "drover.enabled": "true"},
		"other": {"a": "job", "b": "group", "c": "group", "drover.enabled": "true"},
	}
	for _, tg := range g.Targets {
		v, ok := tg.Meta.Fields.Get("nomad.meta")
		if !ok || v.Kind() != event.KindObject {
			t.Fatalf("%s: no nomad.meta object", tg.Task)
		}
		got := map[string]string{}
		var keys []string
		for _, f := range v.Object().All() {
			got[f.Key] = f.Value.Str()
			keys = append(keys, f.Key)
		}
		if !reflect.DeepEqual(got, want[tg.Task]) {
			t.Errorf("%s: meta = %v, want %v", tg.Task, got, want[tg.Task])
		}
		if !reflect.DeepEqual(keys, []string{"a", "b", "c", "drover.enabled"}) {
			t.Errorf("%s: meta keys not sorted: %v", tg.Task, keys)
		}
	}
	if got := MergeMeta(nil, nil, nil); got != nil {
		t.Errorf("MergeMeta of nothing = %v", got)
	}
}

func TestTargetsIncludeUnstartedAndLifecycleTasks(t *testing.T) {
	a := decodeAlloc(t, nomadtest.Alloc{
		Job: "api", Group: "api",
		Tasks: []nomadtest.Task{
			{Name: "init", Lifecycle: "prestart"},
			{Name: "api"},
			{Name: "api-proxy", Lifecycle: "prestart", Sidecar: true},
			{Name: "my.task"},
		},
		TaskStates: map[string]string{"init": "dead", "api-proxy": "running", "orphan": "running"},
	})
	g := (&Builder{Node: fixtureNode}).Group(a, nil)
	type row struct {
		task, state, hook string
		sidecar           bool
	}
	var got []row
	for i, tg := range g.Targets {
		if tg.Stream != Streams[i%2] {
			t.Fatalf("target %d stream %s", i, tg.Stream)
		}
		if i%2 == 0 {
			got = append(got, row{tg.Task, tg.TaskState, tg.Lifecycle, tg.Sidecar})
		}
	}
	want := []row{
		{"init", "dead", "prestart", false},
		{"api", "", "", false}, // not started yet: still a target
		{"api-proxy", "running", "prestart", true},
		{"my.task", "", "", false},
		{"orphan", "running", "", false}, // only in TaskStates
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("targets:\n got %+v\nwant %+v", got, want)
	}

	// api's target matches only its own files.
	api := g.Targets[2]
	proxy := g.Targets[4]
	if _, ok := api.MatchFile("api-proxy.stdout.0"); ok {
		t.Error("task api matched api-proxy.stdout.0")
	}
	if n, ok := api.MatchFile("api.stdout.4"); !ok || n != 4 {
		t.Error("task api did not match api.stdout.4")
	}
	if _, ok := proxy.MatchFile("api-proxy.stdout.0"); !ok {
		t.Error("task api-proxy did not match its file")
	}
	dotted := g.Targets[6]
	if n, ok := dotted.MatchFile("my.task.stdout.3"); !ok || n != 3 {
		t.Error("dotted task did not match my.task.stdout.3")
	}
	if p := dotted.Path(3); p != dotted.LogsDir+"/my.task.stdout.3" {
		t.Errorf("Path = %q", p)
	}
	if k := dotted.Key(); k != a.ID+"/my.task/stdout" {
		t.Errorf("Key = %q", k)
	}
}

func TestDispatchedJobMeta(t *testing.T) {
	a := decodeAlloc(t, nomadtest.Alloc{
		Namespace: "batch", Job: "backup/dispatch-1700000000-1a2b3c4d", ParentID: "backup",
		JobType: "batch", Group: "run", Index: 7,
	})
	g := (&Builder{Node: fixtureNode}).Group(a, nil)
	m := g.Targets[0].Meta
	if got := getStr(t, m, "nomad.job_name"); got != "backup/dispatch-1700000000-1a2b3c4d" {
		t.Errorf("job_name = %q", got)
	}
	if got := getStr(t, m, "nomad.parent_job_name"); got != "backup" {
		t.Errorf("parent_job_name = %q", got)
	}
	if got := getStr(t, m, "nomad.job_type"); got != "batch" {
		t.Errorf("job_type = %q", got)
	}
	if v, _ := m.Fields.Get("nomad.alloc_index"); v.Int() != 7 {
		t.Errorf("alloc_index = %d", v.Int())
	}
}

func TestAllocIndex(t *testing.T) {
	cases := []struct {
		name string
		idx  int64
		ok   bool
	}{
		{"job.group[3]", 3, true},
		{"logspam.spam[0]", 0, true},
		{"we[ird].g[12]", 12, true},
		{"backup/dispatch-1700000000-1a2b3c4d.run[7]", 7, true},
		{"nobracket", 0, false},
		{"a.b[]", 0, false},
		{"a.b[-1]", 0, false},
		{"a.b[+1]", 0, false},
		{"a.b[1]x", 0, false},
		{"a.b[x]", 0, false},
		{"a.b[99999999999999999999]", 0, false},
		{"", 0, false},
	}
	for _, c := range cases {
		idx, ok := AllocIndex(c.name)
		if idx != c.idx || ok != c.ok {
			t.Errorf("AllocIndex(%q) = %d, %v; want %d, %v", c.name, idx, ok, c.idx, c.ok)
		}
	}
	a := decodeAlloc(t, nomadtest.Alloc{})
	a.Name = "no-index"
	g := (&Builder{Node: fixtureNode}).Group(a, nil)
	if _, ok := g.Targets[0].Meta.Fields.Get("nomad.alloc_index"); ok {
		t.Error("alloc_index must be absent when the name has none")
	}
}

func TestMetaReusedWhenUnchanged(t *testing.T) {
	spec := nomadtest.Alloc{ID: nomadtest.NewID(), Tasks: []nomadtest.Task{{Name: "a"}, {Name: "b"}}}
	b := &Builder{SourceID: "s", Node: fixtureNode}
	g1 := b.Group(decodeAlloc(t, spec), nil)

	spec.ClientStatus = "complete"
	g2 := b.Group(decodeAlloc(t, spec), &g1)
	for i := range g1.Targets {
		if g1.Targets[i].Meta != g2.Targets[i].Meta {
			t.Errorf("target %d: metadata rebuilt although unchanged", i)
		}
	}
	if sameGroup(&g1, &g2) {
		t.Error("status change must make the groups differ")
	}

	spec.Tasks[1].Meta = map[string]string{"team": "x"}
	g3 := b.Group(decodeAlloc(t, spec), &g2)
	if g3.Targets[0].Meta != g2.Targets[0].Meta || g3.Targets[2].Meta == g2.Targets[2].Meta {
		t.Error("only task b's metadata should be new")
	}
}

func TestSelectionInBuilder(t *testing.T) {
	sel, err := NewSelector(Selection{Namespaces: []string{"apps"}}, Selection{Tasks: []string{"*-proxy"}})
	if err != nil {
		t.Fatal(err)
	}
	b := &Builder{Node: fixtureNode, Selector: sel}
	a := decodeAlloc(t, nomadtest.Alloc{Namespace: "apps", Tasks: []nomadtest.Task{
		{Name: "api"}, {Name: "api-proxy"}, {Name: "quiet", Meta: map[string]string{EnabledMetaKey: "false"}},
	}})
	g := b.Group(a, nil)
	if len(g.Targets) != 2 || g.Targets[0].Task != "api" {
		t.Errorf("targets = %+v", g.Targets)
	}
	other := decodeAlloc(t, nomadtest.Alloc{Namespace: "default"})
	if g := b.Group(other, nil); len(g.Targets) != 0 || g.Gone {
		t.Errorf("unselected namespace: %+v", g)
	}
}

func TestPathMeta(t *testing.T) {
	m := PathMeta("logs", Node{ID: "n1", Name: "worker"}, "9c75b10c-c61b-8def-104e-7dab6f20befb", "my.task", Stderr)
	want := `"source_type":"nomad_logs","host":"worker","stream":"stderr","nomad":{"node_id":"n1","node_name":"worker",` +
		`"task_name":"my.task","alloc_id":"9c75b10c-c61b-8def-104e-7dab6f20befb"}`
	if got := string(m.JSONMembers()); got != want {
		t.Errorf("PathMeta:\n got %s\nwant %s", got, want)
	}
	m = PathMeta("logs", Node{}, "id", "t", Stdout)
	if want := `"source_type":"nomad_logs","stream":"stdout","nomad":{"task_name":"t","alloc_id":"id"}`; string(m.JSONMembers()) != want {
		t.Errorf("PathMeta without node: %s", m.JSONMembers())
	}
}

func TestGroupOfSparseAllocation(t *testing.T) {
	// A stub without job, task group or node: targets come from TaskStates.
	a := &api.Allocation{ID: "a1", TaskStates: map[string]*api.TaskState{"t": nil, "": {}, "../x": {}}}
	g := (&Builder{Node: fixtureNode}).Group(a, nil)
	if len(g.Targets) != 2 || g.Targets[0].Task != "t" {
		t.Fatalf("targets = %+v", g.Targets)
	}
	if got := getStr(t, g.Targets[0].Meta, "nomad.node_id"); got != fixtureNode.ID {
		t.Errorf("node_id falls back to the node: %q", got)
	}
}

// nomad.services holds the task's services, then its group's that name no
// task or this one, with the variables the allocation tells interpolated
// in their names (nomad-vector-logger#7).
func TestServicesInMetadata(t *testing.T) {
	a := decodeAlloc(t, nomadtest.Alloc{
		ID: "5b1c0000-0000-4000-8000-000000000001", Namespace: "apps", Job: "shop", Group: "web", Index: 2,
		Tasks: []nomadtest.Task{
			{Name: "api", Services: []nomadtest.Service{{Name: "${NOMAD_JOB_NAME}-api", Tags: []string{"http", "v1"}}}},
			{Name: "proxy", Lifecycle: "prestart", Sidecar: true},
		},
		GroupServices: []nomadtest.Service{
			{Name: "web-${NOMAD_ALLOC_INDEX}"},
			{Name: "api-check", Tags: []string{"check"}, Task: "api"},
			{Name: "${BASE}-${NOMAD_UNKNOWN}"},
		},
	})
	g := (&Builder{SourceID: "logs", Node: fixtureNode}).Group(a, nil)
	got := map[string]string{}
	for _, tg := range g.Targets {
		v, ok := tg.Meta.Fields.Get("nomad.services")
		if !ok {
			got[tg.Task] = "<absent>"
			continue
		}
		if v.Kind() != event.KindRawJSON {
			t.Fatalf("services of %s: %v", tg.Task, v.Kind())
		}
		got[tg.Task] = string(v.AppendText(nil))
	}
	want := map[string]string{
		"api":   `[{"name":"shop-api","tags":["http","v1"]},{"name":"web-2"},{"name":"api-check","tags":["check"]},{"name":"shop-web-api-${NOMAD_UNKNOWN}"}]`,
		"proxy": `[{"name":"web-2"},{"name":"shop-web-proxy-${NOMAD_UNKNOWN}"}]`,
	}
	for task, w := range want {
		if got[task] != w {
			t.Errorf("services of %s:\n got  %s\n want %s", task, got[task], w)
		}
	}

	// A task without services has no field.
	b := decodeAlloc(t, nomadtest.Alloc{Job: "plain"})
	for _, tg := range (&Builder{SourceID: "logs", Node: fixtureNode}).Group(b, nil).Targets {
		if _, ok := tg.Meta.Fields.Get("nomad.services"); ok {
			t.Errorf("services on a task without any")
		}
	}
}
