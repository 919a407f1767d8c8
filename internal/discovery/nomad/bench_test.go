package nomad

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/hashicorp/nomad/api"

	"github.com/drover-dev/drover/internal/nomadtest"
)

// node100 returns the list body of a node with 100 allocations of three
// tasks each (a prestart sidecar among them), with job, group and task meta.
func node100() []byte {
	specs := make([]nomadtest.Alloc, 100)
	for i := range specs {
		specs[i] = nomadtest.Alloc{
			ID:        fmt.Sprintf("%08d-0000-0000-0000-000000000000", i),
			Namespace: []string{"default", "apps", "batch"}[i%3],
			Job:       fmt.Sprintf("job-%d", i/4),
			Group:     "g",
			Index:     i % 4,
			JobMeta:   map[string]string{"team": "core", "tier": "1", "owner": "ops"},
			GroupMeta: map[string]string{"tier": "2"},
			Tasks: []nomadtest.Task{
				{Name: "app", Meta: map[string]string{"version": "1.2.3"}},
				{Name: "proxy", Lifecycle: "prestart", Sidecar: true},
				{Name: "log-shipper", Lifecycle: "poststart"},
			},
		}
	}
	return nomadtest.ListJSON(1000, specs...)
}

func decodeBench(b *testing.B, body []byte) []*api.Allocation {
	var allocs []*api.Allocation
	if err := json.Unmarshal(body, &allocs); err != nil {
		b.Fatal(err)
	}
	return allocs
}

// BenchmarkBuildGroups100 builds the groups (600 targets) of a node with
// 100 allocations from decoded allocations.
func BenchmarkBuildGroups100(b *testing.B) {
	allocs := decodeBench(b, node100())
	bl := &Builder{SourceID: "bench", Node: fixtureNode}
	b.ReportAllocs()
	for b.Loop() {
		for _, a := range allocs {
			bl.Group(a, nil)
		}
	}
}

// BenchmarkRebuildGroups100 rebuilds the same groups with the previous
// ones at hand (metadata reused), as after a job update.
func BenchmarkRebuildGroups100(b *testing.B) {
	allocs := decodeBench(b, node100())
	bl := &Builder{SourceID: "bench", Node: fixtureNode}
	prev := make([]Group, len(allocs))
	for i, a := range allocs {
		prev[i] = bl.Group(a, nil)
	}
	b.ReportAllocs()
	for b.Loop() {
		for i, a := range allocs {
			bl.Group(a, &prev[i])
		}
	}
}

// BenchmarkDecodeList100 decodes the list body of 100 allocations: the
// cost of every answer of a blocking query that changed. "full" decodes
// as the API client does, "slim" as the watcher does (only what groups are
// built from); bytes/op is what a list holds while it is handled.
func BenchmarkDecodeList100(b *testing.B) {
	body := node100()
	b.Run("full", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			decodeBench(b, body)
		}
	})
	b.Run("slim", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			var out []*slimAlloc
			if err := json.Unmarshal(body, &out); err != nil {
				b.Fatal(err)
			}
			_ = allocations(out)
		}
	})
}
