package nomadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func get(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading %s: %v", url, err)
	}
	return resp, body
}

func client(t *testing.T, s *Server) *api.Client {
	t.Helper()
	c, err := api.NewClient(&api.Config{Address: s.URL()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func TestFixtureListServedByteForByte(t *testing.T) {
	s := New(t)
	ids := s.LoadFixture(FixtureNodeAllocations)
	if len(ids) != 3 {
		t.Fatalf("loaded %d allocations, want 3", len(ids))
	}
	resp, body := get(t, s.URL()+"/v1/node/"+FixtureNodeID+"/allocations")
	if !bytes.Equal(body, Fixture(FixtureNodeAllocations)) {
		t.Errorf("body differs from the fixture")
	}
	want := FixtureHeaders(FixtureNodeAllocations)
	for _, h := range []string{"Content-Type", "Vary", "X-Nomad-Index", "X-Nomad-Knownleader", "X-Nomad-Lastcontact"} {
		if got := resp.Header.Get(h); got != want.Get(h) {
			t.Errorf("header %s = %q, fixture has %q", h, got, want.Get(h))
		}
	}
	_, body = get(t, s.URL()+"/v1/agent/self")
	if !bytes.Equal(body, Fixture(FixtureAgentSelf)) {
		t.Errorf("agent self differs from the fixture")
	}
}

func TestAgentSelfHasNoIndexHeaders(t *testing.T) {
	s := New(t)
	resp, _ := get(t, s.URL()+"/v1/agent/self")
	if resp.Header.Get("X-Nomad-Index") != "" {
		t.Error("agent self must not carry X-Nomad-Index, as in the capture")
	}
}

func TestAgentSettings(t *testing.T) {
	s := New(t)
	a := s.Agent()
	a.NodeID, a.NodeName, a.DataDir, a.AllocDir = "n1", "worker-1", "/data", "/allocs"
	s.SetAgent(a)
	self, err := client(t, s).Agent().Self()
	if err != nil {
		t.Fatal(err)
	}
	if got := self.Stats["client"]["node_id"]; got != "n1" {
		t.Errorf("node_id = %q", got)
	}
	if self.Config["DataDir"] != "/data" || self.Config["NodeName"] != "worker-1" {
		t.Errorf("config = %v / %v", self.Config["DataDir"], self.Config["NodeName"])
	}
	if got := self.Config["Client"].(map[string]any)["AllocDir"]; got != "/allocs" {
		t.Errorf("AllocDir = %v", got)
	}
	node, _, err := client(t, s).Nodes().Info("n1", nil)
	if err != nil || node.Name != "worker-1" {
		t.Fatalf("node = %+v, %v", node, err)
	}
	a.Client = false
	s.SetAgent(a)
	self, err = client(t, s).Agent().Self()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := self.Stats["client"]; ok {
		t.Error("an agent without client must have no stats.client")
	}
	if _, _, err := client(t, s).Nodes().Info("n1", nil); err == nil {
		t.Error("node of an agent without client: want 404")
	}
}

func TestAllocSpecDecodes(t *testing.T) {
	s := New(t)
	id := s.AddAlloc(Alloc{
		Namespace: "apps", Job: "api", Group: "g", Index: 3,
		JobMeta: map[string]string{"team": "a"}, GroupMeta: map[string]string{"team": "b"},
		Tasks: []Task{
			{Name: "api", Meta: map[string]string{"team": "c"}},
			{Name: "api-proxy", Lifecycle: "prestart", Sidecar: true},
		},
		TaskStates: map[string]string{"api": "running"},
	})
	allocs, meta, err := client(t, s).Nodes().Allocations(FixtureNodeID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(allocs) != 1 || meta.LastIndex != s.Index() || !meta.KnownLeader {
		t.Fatalf("allocs = %d, meta = %+v", len(allocs), meta)
	}
	a := allocs[0]
	if a.ID != id || a.Name != "api.g[3]" || a.Namespace != "apps" || a.JobID != "api" || a.TaskGroup != "g" ||
		a.NodeName != FixtureNodeName || a.ModifyIndex != s.Index() {
		t.Errorf("alloc = %s %s %s %s %s %s %d", a.ID, a.Name, a.Namespace, a.JobID, a.TaskGroup, a.NodeName, a.ModifyIndex)
	}
	tg := a.Job.TaskGroups[0]
	if *tg.Name != "g" || tg.Meta["team"] != "b" || a.Job.Meta["team"] != "a" || tg.Tasks[0].Meta["team"] != "c" {
		t.Errorf("meta not where it belongs: job %v group %v task %v", a.Job.Meta, tg.Meta, tg.Tasks[0].Meta)
	}
	if lc := tg.Tasks[1].Lifecycle; lc == nil || lc.Hook != "prestart" || !lc.Sidecar {
		t.Errorf("lifecycle = %+v", lc)
	}
	if len(a.TaskStates) != 1 || a.TaskStates["api"].State != "running" {
		t.Errorf("task states = %v", a.TaskStates)
	}
}

func TestBlockingQuery(t *testing.T) {
	s := New(t)
	c := client(t, s)
	idx := s.Index()

	// Nothing changes: the wait elapses and the index is the same.
	start := time.Now()
	_, meta, err := c.Nodes().Allocations(FixtureNodeID, &api.QueryOptions{WaitIndex: idx, WaitTime: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if meta.LastIndex != idx || time.Since(start) < 100*time.Millisecond {
		t.Errorf("timeout answer: index %d (want %d) after %s", meta.LastIndex, idx, time.Since(start))
	}

	// A change wakes the query.
	done := make(chan uint64)
	go func() {
		_, meta, err := c.Nodes().Allocations(FixtureNodeID, &api.QueryOptions{WaitIndex: idx, WaitTime: time.Minute})
		if err != nil {
			t.Error(err)
		}
		done <- meta.LastIndex
	}()
	waitFor(t, func() bool { return s.Blocking() == 1 })
	s.AddAlloc(Alloc{})
	select {
	case got := <-done:
		if got != idx+1 {
			t.Errorf("woken with index %d, want %d", got, idx+1)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("blocking query not woken by a change")
	}
	log := s.RequestLog()
	if last := log[len(log)-1]; last.Index != idx || last.Wait != time.Minute {
		t.Errorf("logged request = %+v", last)
	}
}

func TestIndexBackwardsKeepsBlockingUntilWait(t *testing.T) {
	s := New(t)
	s.SetIndex(100)
	c := client(t, s)
	done := make(chan uint64)
	go func() {
		_, meta, err := c.Nodes().Allocations(FixtureNodeID, &api.QueryOptions{WaitIndex: 100, WaitTime: 200 * time.Millisecond})
		if err != nil {
			t.Error(err)
		}
		done <- meta.LastIndex
	}()
	waitFor(t, func() bool { return s.Blocking() == 1 })
	s.SetIndex(7)
	if got := <-done; got != 7 {
		t.Errorf("index = %d, want 7", got)
	}
}

func TestFaults(t *testing.T) {
	s := New(t)
	c := client(t, s)
	s.Fail(EndpointNodeAllocations, 403, 1)
	_, _, err := c.Nodes().Allocations(FixtureNodeID, nil)
	var ue api.UnexpectedResponseError
	if !errors.As(err, &ue) || ue.StatusCode() != 403 || ue.Body() != "Permission denied" {
		t.Fatalf("err = %v", err)
	}
	if _, _, err := c.Nodes().Allocations(FixtureNodeID, nil); err != nil {
		t.Fatalf("fault should be used up: %v", err)
	}

	s.InjectFault(EndpointNodeAllocations, Fault{Drop: true}, 2)
	if _, _, err := c.Nodes().Allocations(FixtureNodeID, nil); err == nil || !strings.Contains(err.Error(), "EOF") {
		t.Errorf("drop: err = %v", err)
	}
	s.AddAlloc(Alloc{})
	s.InjectFault(EndpointNodeAllocations, Fault{Truncate: true}, 1)
	if _, _, err := c.Nodes().Allocations(FixtureNodeID, nil); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncate: err = %v", err)
	}
	s.Fail(EndpointAgentSelf, 500, 0)
	for range 3 {
		if _, err := c.Agent().Self(); err == nil {
			t.Fatal("want 500 until cleared")
		}
	}
	s.ClearFaults()
	if _, err := c.Agent().Self(); err != nil {
		t.Fatal(err)
	}
	if got := s.Requests(EndpointAgentSelf); got != 4 {
		t.Errorf("agent self requests = %d, want 4", got)
	}
}

func TestDropBlockingAndDownUp(t *testing.T) {
	s := New(t)
	c := client(t, s)
	errc := make(chan error)
	go func() {
		_, _, err := c.Nodes().Allocations(FixtureNodeID, &api.QueryOptions{WaitIndex: s.Index(), WaitTime: time.Minute})
		errc <- err
	}()
	waitFor(t, func() bool { return s.Blocking() == 1 })
	s.DropBlocking()
	if err := <-errc; err == nil {
		t.Fatal("dropped blocking query: want an error")
	}

	go func() {
		_, _, err := c.Nodes().Allocations(FixtureNodeID, &api.QueryOptions{WaitIndex: s.Index(), WaitTime: time.Minute})
		errc <- err
	}()
	waitFor(t, func() bool { return s.Blocking() == 1 })
	s.Down()
	if err := <-errc; err == nil {
		t.Fatal("blocking query when the agent goes down: want an error")
	}
	if _, err := c.Agent().Self(); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("agent down: err = %v", err)
	}
	s.Up()
	if _, err := c.Agent().Self(); err != nil {
		t.Fatalf("agent up again: %v", err)
	}
}

func TestTokenAndNamespaces(t *testing.T) {
	s := New(t)
	s.AddAlloc(Alloc{Namespace: "apps"})
	s.AddAlloc(Alloc{Namespace: "default"})
	s.RequireToken("secret")
	c := client(t, s)
	_, _, err := c.Nodes().Allocations(FixtureNodeID, nil)
	var ue api.UnexpectedResponseError
	if !errors.As(err, &ue) || ue.StatusCode() != 403 {
		t.Fatalf("no token: err = %v", err)
	}
	_, _, err = c.Nodes().Allocations(FixtureNodeID, &api.QueryOptions{AuthToken: "wrong"})
	if !errors.As(err, &ue) || ue.Body() != "ACL token not found" {
		t.Fatalf("wrong token: err = %v", err)
	}
	s.SetReadableNamespaces("apps")
	allocs, _, err := c.Nodes().Allocations(FixtureNodeID, &api.QueryOptions{AuthToken: "secret"})
	if err != nil || len(allocs) != 1 || allocs[0].Namespace != "apps" {
		t.Fatalf("readable namespaces: %d allocs, %v", len(allocs), err)
	}
}

func TestMutations(t *testing.T) {
	s := New(t)
	id := s.AddAlloc(Alloc{Job: "j"})
	created := s.Index()
	s.UpdateAlloc(id, func(a *Alloc) { a.JobMeta = map[string]string{"k": "v"} })
	obj := s.AllocJSON(id)
	if obj["CreateIndex"].(interface{ String() string }).String() != itoa(created) ||
		obj["ModifyIndex"].(interface{ String() string }).String() != itoa(s.Index()) {
		t.Errorf("indexes after update: %v %v", obj["CreateIndex"], obj["ModifyIndex"])
	}
	s.SetAllocStatus(id, "complete", "stop")
	obj = s.AllocJSON(id)
	st := obj["TaskStates"].(map[string]any)["app"].(map[string]any)["State"]
	if obj["ClientStatus"] != "complete" || st != "dead" {
		t.Errorf("status = %v, task state = %v", obj["ClientStatus"], st)
	}
	before := s.Index()
	s.RemoveAlloc(id)
	if s.AllocJSON(id) != nil || s.Index() != before+1 {
		t.Error("RemoveAlloc must remove and bump the index")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	allocs, _, err := client(t, s).Nodes().Allocations(FixtureNodeID, (&api.QueryOptions{}).WithContext(ctx))
	if err != nil || len(allocs) != 0 {
		t.Fatalf("after GC: %d allocs, %v", len(allocs), err)
	}
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestNodeIndexIsHighestModifyIndex(t *testing.T) {
	s := New(t)
	c := client(t, s)
	a := s.AddAlloc(Alloc{})
	b := s.AddAlloc(Alloc{})
	idxB := s.Index()
	s.Touch() // elsewhere in the cluster
	_, meta, err := c.Nodes().Allocations(FixtureNodeID, nil)
	if err != nil || meta.LastIndex != idxB {
		t.Fatalf("index = %d, want the highest ModifyIndex %d (%v)", meta.LastIndex, idxB, err)
	}

	// Garbage collection of an allocation below the highest index does not
	// wake a blocking query: it answers at the end of its wait, same index.
	s.RemoveAlloc(a)
	start := time.Now()
	allocs, meta, err := c.Nodes().Allocations(FixtureNodeID, &api.QueryOptions{WaitIndex: idxB, WaitTime: 100 * time.Millisecond})
	if err != nil || meta.LastIndex != idxB || len(allocs) != 1 || time.Since(start) < 100*time.Millisecond {
		t.Fatalf("after GC: index %d, %d allocs, after %s (%v)", meta.LastIndex, len(allocs), time.Since(start), err)
	}
	// Removing the highest one makes the index go down: to the table index
	// when the node has no allocation left.
	s.RemoveAlloc(b)
	_, meta, err = c.Nodes().Allocations(FixtureNodeID, nil)
	if err != nil || meta.LastIndex != s.Index() {
		t.Fatalf("empty node: index %d, want the table index %d (%v)", meta.LastIndex, s.Index(), err)
	}
	s.AddAlloc(Alloc{})
	newest := s.AddAlloc(Alloc{})
	s.RemoveAlloc(newest)
	if _, meta, _ = c.Nodes().Allocations(FixtureNodeID, nil); meta.LastIndex >= s.Index()-1 {
		t.Errorf("index %d after removing the newest allocation, want below %d", meta.LastIndex, s.Index()-1)
	}
}

func TestSetIndexRestoresOlderState(t *testing.T) {
	s := New(t)
	id := s.AddAlloc(Alloc{})
	s.AddAlloc(Alloc{})
	s.SetIndex(2)
	obj := s.AllocJSON(id)
	if obj["ModifyIndex"].(json.Number).String() != "2" {
		t.Errorf("ModifyIndex after restore = %v", obj["ModifyIndex"])
	}
	_, meta, err := client(t, s).Nodes().Allocations(FixtureNodeID, nil)
	if err != nil || meta.LastIndex != 2 {
		t.Errorf("index after restore = %d (%v)", meta.LastIndex, err)
	}
}
