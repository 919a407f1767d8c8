// Package eventstream is a fake Nomad agent for tests: it serves
// GET /v1/event/stream with the streaming semantics of a real v1.6.5 agent
// (inclusive index, a bounded buffer whose aged-out indexes start at the
// oldest item, heartbeats, cut connections, restarts that keep or reset the
// index, 403 and 500 answers) and replays the real captures in testdata/.
// List endpoints (/v1/allocations, /v1/jobs, ...) can be served too, with
// their X-Nomad-Index.
//
// The semantics follow Nomad's own code: nomad/stream/event_buffer.go
// (StartAtClosest, dropped items), nomad/stream/subscription.go (filters)
// and command/agent/event_endpoint.go (parameters, heartbeats). Its tests
// check the fake against the captures.
package eventstream
