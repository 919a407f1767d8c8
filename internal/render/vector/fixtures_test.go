package vector

import (
	"encoding/json"
	"testing"

	"github.com/hashicorp/nomad/api"

	"github.com/drover-dev/drover/internal/discovery/nomad"
	"github.com/drover-dev/drover/internal/nomadtest"
)

// IDs of the allocations of the captured node list (node-allocations).
const (
	idLogspam = "9c75b10c-c61b-8def-104e-7dab6f20befb" // apps, service, running
	idSleeper = "117b2aa3-2c2e-f78c-2948-289cdcf59360" // default, service, complete/stop
	idBatch   = "14cd2c62-4f67-2fcb-d0c0-81c1f2a825c2" // default, batch, complete
	idQuoted  = "5a1e0000-0000-4000-8000-00000000c0de" // made here
)

// quotedAlloc is an allocation made to try the quoting: a job name with
// quotes, tasks "api" and "api-proxy" (a prestart sidecar) and a task
// whose name is no component name, meta with every kind of trouble.
func quotedAlloc() nomadtest.Alloc {
	return nomadtest.Alloc{
		ID:        idQuoted,
		Namespace: "edge",
		Job:       `say "hi"`,
		Group:     "front",
		Index:     2,
		Tasks: []nomadtest.Task{
			{Name: "api", Meta: map[string]string{"port": "8080"}},
			{Name: "api-proxy", Lifecycle: "prestart", Sidecar: true},
			{Name: "log.shipper[1]"},
		},
		JobMeta: map[string]string{
			"owner":     `team "blue" \ ops`,
			"template":  "{{ .message }} and {single}",
			"multiline": "one\ntwo\tthree\r",
			"unicode":   "ünï ✓ 日本",
			"shell":     "cost $5, ${HOME}, $$",
			"secret":    "SECRET[vault.db_password]",
		},
		GroupMeta: map[string]string{"tier": "web"},
	}
}

// fixtureNode is the captured node, with the captured data dir.
func fixtureNode() nomad.Node {
	return nomad.Node{
		ID: nomadtest.FixtureNodeID, Name: nomadtest.FixtureNodeName,
		Datacenter: nomadtest.FixtureDatacenter, Region: nomadtest.FixtureRegion,
		AllocDir: nomadtest.FixtureDataDir + "/alloc",
	}
}

// fixtureAllocs returns the captured node list plus quotedAlloc, decoded
// as the Nomad client decodes them.
func fixtureAllocs(t testing.TB) []*api.Allocation {
	t.Helper()
	var allocs []*api.Allocation
	if err := json.Unmarshal(nomadtest.Fixture(nomadtest.FixtureNodeAllocations), &allocs); err != nil {
		t.Fatal(err)
	}
	var q api.Allocation
	if err := json.Unmarshal(quotedAlloc().JSON(40), &q); err != nil {
		t.Fatal(err)
	}
	return append(allocs, &q)
}

// fixtureGroups builds the groups of fixtureAllocs, by allocation ID, as
// the discovery does.
func fixtureGroups(t testing.TB) map[string]nomad.Group {
	t.Helper()
	b := &nomad.Builder{SourceID: SourceID, Node: fixtureNode()}
	out := map[string]nomad.Group{}
	for _, a := range fixtureAllocs(t) {
		out[a.ID] = b.Group(a, nil)
	}
	for _, id := range []string{idLogspam, idSleeper, idBatch, idQuoted} {
		if len(out[id].Targets) == 0 {
			t.Fatalf("fixture allocation %s has no targets", id)
		}
	}
	return out
}

// testConfig returns a valid configuration writing to dir.
func testConfig(dir, format string) Config {
	cfg := DefaultConfig()
	cfg.OutDir = dir
	cfg.Format = format
	return cfg
}
