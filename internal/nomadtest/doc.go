// Package nomadtest is a fake Nomad agent HTTP API for tests and
// benchmarks: the node allocation list with real blocking-query semantics,
// the agent's self description and node, with bodies and headers shaped
// like the real captures embedded in fixtures/ (a Nomad v1.6.5 agent).
//
//	srv := nomadtest.New(t)
//	id := srv.AddAlloc(nomadtest.Alloc{Namespace: "apps", Job: "api",
//		Tasks: []nomadtest.Task{{Name: "api"}, {Name: "api-proxy", Lifecycle: "prestart", Sidecar: true}}})
//	srv.SetAllocStatus(id, "complete", "stop")   // bumps the index, wakes blocking queries
//	srv.RemoveAlloc(id)                            // garbage collection
//	srv.Fail(nomadtest.EndpointNodeAllocations, 500, 2)
//
// Point a client at srv.URL(). The agent's node is FixtureNodeID unless
// SetAgent says otherwise; SetAgent also sets the data and alloc dirs the
// agent reports, so tests can put task log files in a temporary directory.
package nomadtest
