package nomadtest

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"
)

// Server is a fake Nomad agent HTTP API on a loopback port. It serves
//
//	GET /v1/agent/self
//	GET /v1/node/<id>
//	GET /v1/node/<id>/allocations
//	GET /v1/allocation/<id>
//
// with bodies and headers shaped like the real captures (see Fixture):
// the allocation objects are the captured ones, changed as tests say.
//
// Indexes work as in Nomad. Every change bumps the (raft) index, and a
// changed allocation gets it as its ModifyIndex. The X-Nomad-Index of a
// node's allocation list is the highest ModifyIndex among the node's
// allocations (the table index when it has none), so removing an
// allocation (garbage collection) never raises it: it stays, or goes down
// when the removed allocation had the highest ModifyIndex, and a blocking
// query is not woken by it. A request with ?index=N waits until the
// endpoint's index exceeds N or ?wait= (default 5m, at most 10m) elapses,
// and answers with the X-Nomad-Index, X-Nomad-Knownleader and
// X-Nomad-Lastcontact headers.
//
// Tests can inject answers (403, 500, dropped or cut connections), take
// the agent down and up again, require a token, hide namespaces as an ACL
// policy would, and count requests. All methods are safe for concurrent
// use.
type Server struct {
	tb testing.TB

	mu       sync.Mutex
	index    uint64
	changed  chan struct{} // closed and replaced when the state changes
	agent    Agent
	allocs   map[string]*entry
	order    []string // allocation IDs in the order added
	faults   map[Endpoint][]*faultEntry
	counts   map[Endpoint]int
	log      []Request
	token    string
	readable map[string]bool // nil: every namespace
	blocking int
	dropNow  chan struct{} // closed by DropBlocking

	// lifecycle
	addr    string
	hs      *http.Server
	down    chan struct{} // closed when the server goes down
	served  chan struct{} // closed when Serve returned
	active  int
	idle    *sync.Cond // signalled when active drops to 0
	closed  bool
	running bool
}

// Agent is what the fake agent says about itself and its node.
type Agent struct {
	NodeID     string
	NodeName   string
	Region     string
	Datacenter string
	DataDir    string
	// AllocDir is the client's alloc_dir; "" means <DataDir>/alloc, as in
	// the capture.
	AllocDir string
	// Client is false for an agent that runs no client: /v1/agent/self has
	// no stats.client and /v1/node/<id> answers 404.
	Client bool
}

// fixtureAgent is the captured agent.
func fixtureAgent() Agent {
	return Agent{
		NodeID: FixtureNodeID, NodeName: FixtureNodeName, Region: FixtureRegion,
		Datacenter: FixtureDatacenter, DataDir: FixtureDataDir, Client: true,
	}
}

type entry struct {
	spec *Alloc // nil for allocations added as JSON
	obj  map[string]any
	// raw is the allocation's bytes as loaded from a fixture, served as
	// they are until the allocation is changed; nil once it was changed.
	raw []byte
}

// body returns the allocation's JSON.
func (e *entry) body() []byte {
	if e.raw != nil {
		return e.raw
	}
	return marshal(e.obj)
}

// Request is one request the server received.
type Request struct {
	Endpoint  Endpoint
	Path      string
	Index     uint64
	Wait      time.Duration
	Token     string
	Namespace string
	Region    string
}

// New starts a server on 127.0.0.1 with the captured agent (node
// 6f986d5f-..., "anchor-node", data dir /opt/nomad/data), no allocations
// and index 1. It is closed when the test ends.
func New(tb testing.TB) *Server {
	tb.Helper()
	s := &Server{
		tb:      tb,
		index:   1,
		changed: make(chan struct{}),
		dropNow: make(chan struct{}),
		agent:   fixtureAgent(),
		allocs:  make(map[string]*entry),
		faults:  make(map[Endpoint][]*faultEntry),
		counts:  make(map[Endpoint]int),
	}
	s.idle = sync.NewCond(&s.mu)
	if err := s.listen("127.0.0.1:0"); err != nil {
		tb.Fatalf("nomadtest: %v", err)
	}
	tb.Cleanup(s.Close)
	return s
}

// URL is the agent's address, for nomad.address or NOMAD_ADDR.
func (s *Server) URL() string { return "http://" + s.addr }

// Addr is the host:port the server listens on.
func (s *Server) Addr() string { return s.addr }

func (s *Server) listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", addr, err)
	}
	hs := &http.Server{Handler: http.HandlerFunc(s.serveHTTP), ReadHeaderTimeout: 10 * time.Second}
	s.mu.Lock()
	s.addr = ln.Addr().String()
	s.hs = hs
	s.down = make(chan struct{})
	s.served = make(chan struct{})
	s.running = true
	served := s.served
	s.mu.Unlock()
	go func() {
		defer close(served)
		_ = hs.Serve(ln)
	}()
	return nil
}

// Down takes the agent away: the port stops listening (connections are
// refused), open connections are cut, and blocking queries in flight end
// without an answer, as when the agent is stopped.
func (s *Server) Down() {
	s.mu.Lock()
	if !s.running {
		s.mu.Unlock()
		return
	}
	s.running = false
	close(s.down)
	hs, served := s.hs, s.served
	s.mu.Unlock()
	_ = hs.Close()
	<-served
	s.mu.Lock()
	for s.active > 0 {
		s.idle.Wait()
	}
	s.mu.Unlock()
}

// Up brings the agent back on the same address after Down.
func (s *Server) Up() {
	s.mu.Lock()
	if s.running || s.closed {
		s.mu.Unlock()
		return
	}
	addr := s.addr
	s.mu.Unlock()
	var err error
	for i := 0; i < 50; i++ { // the port may linger for a moment
		if err = s.listen(addr); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.tb.Errorf("nomadtest: bringing the agent back up: %v", err)
}

// Close stops the server for good; it waits for every handler to return.
func (s *Server) Close() {
	s.Down()
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
}

// Agent returns what the agent says about itself.
func (s *Server) Agent() Agent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.agent
}

// SetAgent changes what the agent says about itself. Allocations added
// later default to its node.
func (s *Server) SetAgent(a Agent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.agent = a
}

// NodeID is the agent's node id.
func (s *Server) NodeID() string { return s.Agent().NodeID }

// Index is the current X-Nomad-Index.
func (s *Server) Index() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.index
}

// NodeAllocsIndex is the X-Nomad-Index the agent node's allocation list
// answers with now: the highest ModifyIndex of its allocations, or Index
// when it has none.
func (s *Server) NodeAllocsIndex() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.indexLocked(EndpointNodeAllocations, s.agent.NodeID)
}

// SetIndex sets the index, also backwards, as a cluster restored from an
// older snapshot or a restarted -dev agent: indexes of allocations above n
// become n. Blocking queries keep waiting until their endpoint's index
// exceeds theirs or their wait ends.
func (s *Server) SetIndex(n uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.index = n
	for _, e := range s.allocs {
		changed := false
		for _, k := range []string{"CreateIndex", "ModifyIndex", "AllocModifyIndex"} {
			if v, ok := e.obj[k].(json.Number); ok {
				if x, err := v.Int64(); err == nil && uint64(x) > n {
					e.obj[k] = json.Number(fmt.Sprint(n))
					changed = true
				}
			}
		}
		if changed {
			e.raw = nil
		}
	}
	s.notifyLocked()
}

// Touch bumps the index without changing this node's allocations, as a
// change elsewhere in the cluster does. It wakes the node's blocking
// queries only when the node has no allocations (their index is then the
// table's).
func (s *Server) Touch() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bumpLocked()
}

func (s *Server) bumpLocked() uint64 {
	s.index++
	s.notifyLocked()
	return s.index
}

func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// AddAlloc adds an allocation built from a (see Alloc for the defaults)
// and returns its ID.
func (s *Server) AddAlloc(a Alloc) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	a = a.clone()
	a.setDefaults(s.agent.NodeID, s.agent.NodeName)
	if _, dup := s.allocs[a.ID]; dup {
		s.tb.Fatalf("nomadtest: allocation %s added twice", a.ID)
	}
	idx := s.bumpLocked()
	s.allocs[a.ID] = &entry{spec: &a, obj: a.render(idx, idx)}
	s.order = append(s.order, a.ID)
	return a.ID
}

// UpdateAlloc changes an allocation added with AddAlloc, as an in-place
// job update or a client update does: fn changes the spec, the allocation
// keeps its ID and CreateIndex and gets a new ModifyIndex.
func (s *Server) UpdateAlloc(id string, fn func(*Alloc)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.allocs[id]
	if e == nil || e.spec == nil {
		s.tb.Fatalf("nomadtest: UpdateAlloc: no allocation %s added with AddAlloc", id)
		return
	}
	spec := e.spec.clone()
	fn(&spec)
	spec.ID = id
	create, _ := e.obj["CreateIndex"].(json.Number).Int64()
	idx := s.bumpLocked()
	e.spec, e.obj = &spec, spec.render(uint64(create), idx)
}

// SetAllocStatus sets an allocation's client and desired status, and the
// state of each of its tasks to match (running, pending, or dead), as the
// client reports it. It works for every allocation.
func (s *Server) SetAllocStatus(id, clientStatus, desiredStatus string) {
	s.EditAlloc(id, func(obj map[string]any) {
		obj["ClientStatus"] = clientStatus
		obj["DesiredStatus"] = desiredStatus
		if ts, ok := obj["TaskStates"].(map[string]any); ok {
			for _, st := range ts {
				if m, ok := st.(map[string]any); ok {
					m["State"] = defaultTaskState(clientStatus)
				}
			}
		}
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.allocs[id]; e != nil && e.spec != nil {
		e.spec.ClientStatus, e.spec.DesiredStatus, e.spec.TaskStates = clientStatus, desiredStatus, nil
	}
}

// EditAlloc changes an allocation's JSON object in place and gives it a
// new ModifyIndex. fn must keep the values JSON-encodable.
func (s *Server) EditAlloc(id string, fn func(obj map[string]any)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.allocs[id]
	if e == nil {
		s.tb.Fatalf("nomadtest: EditAlloc: no allocation %s", id)
		return
	}
	fn(e.obj)
	e.raw = nil
	e.obj["ModifyIndex"] = json.Number(fmt.Sprint(s.bumpLocked()))
}

// AddAllocJSON adds an allocation object as it is (for example one of
// FixtureAllocations), keeping its indexes, and returns its ID. The index
// moves past the allocation's ModifyIndex.
func (s *Server) AddAllocJSON(obj map[string]any) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.addJSONLocked(deepCopy(obj).(map[string]any), nil)
	s.bumpLocked()
	return id
}

// addJSONLocked stores an allocation and moves the index up to its
// ModifyIndex, without notifying.
func (s *Server) addJSONLocked(obj map[string]any, raw []byte) string {
	id, _ := obj["ID"].(string)
	if id == "" {
		s.tb.Fatalf("nomadtest: allocation without ID")
		return ""
	}
	if _, dup := s.allocs[id]; dup {
		s.tb.Fatalf("nomadtest: allocation %s added twice", id)
		return ""
	}
	s.allocs[id] = &entry{obj: obj, raw: raw}
	s.order = append(s.order, id)
	if mi, ok := obj["ModifyIndex"].(json.Number); ok {
		if n, err := mi.Int64(); err == nil && uint64(n) > s.index {
			s.index = uint64(n)
		}
	}
	return id
}

// LoadFixture serves every allocation of a node allocation list fixture
// byte for byte (until one is changed) and moves the index to the
// fixture's X-Nomad-Index, or one past the current index when that is not
// higher. It returns the IDs in fixture order. Loaded into a new server,
// the node allocation list is the fixture exactly, body and headers.
func (s *Server) LoadFixture(name string) []string {
	var raws []json.RawMessage
	if err := json.Unmarshal(Fixture(name), &raws); err != nil {
		s.tb.Fatalf("nomadtest: fixture %s is not a list: %v", name, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	next := s.index + 1
	var ids []string
	for _, raw := range raws {
		var obj map[string]any
		if err := decodeJSON(raw, &obj); err != nil {
			s.tb.Fatalf("nomadtest: fixture %s: %v", name, err)
		}
		ids = append(ids, s.addJSONLocked(obj, raw))
	}
	s.index = max(s.index, next, FixtureIndex(name))
	s.notifyLocked()
	return ids
}

// RemoveAlloc removes an allocation from the state, as garbage collection
// does, and bumps the index.
func (s *Server) RemoveAlloc(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.allocs[id]; !ok {
		s.tb.Fatalf("nomadtest: RemoveAlloc: no allocation %s", id)
		return
	}
	delete(s.allocs, id)
	s.order = slices.DeleteFunc(s.order, func(o string) bool { return o == id })
	s.bumpLocked()
}

// AllocJSON returns a copy of an allocation's object, nil when unknown.
func (s *Server) AllocJSON(id string) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.allocs[id]; e != nil {
		return deepCopy(e.obj).(map[string]any)
	}
	return nil
}

// RequireToken turns ACLs on: requests need X-Nomad-Token: secret. A
// request without a token gets 403 "Permission denied", one with another
// token 403 "ACL token not found". "" turns ACLs off again.
func (s *Server) RequireToken(secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.token = secret
}

// SetReadableNamespaces makes the node allocation list leave out the
// allocations of other namespaces, as Nomad does for a token without
// read-job there. No arguments: every namespace is readable.
func (s *Server) SetReadableNamespaces(namespaces ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(namespaces) == 0 {
		s.readable = nil
		return
	}
	s.readable = make(map[string]bool, len(namespaces))
	for _, ns := range namespaces {
		s.readable[ns] = true
	}
}

// Requests returns how many requests an endpoint received.
func (s *Server) Requests(ep Endpoint) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[ep]
}

// RequestLog returns every request received, oldest first.
func (s *Server) RequestLog() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.log...)
}

// Blocking returns how many blocking queries are waiting now.
func (s *Server) Blocking() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.blocking
}

// DropBlocking cuts the connections of the blocking queries waiting now,
// without an answer (what a client sees when the agent is killed: "empty
// reply from server").
func (s *Server) DropBlocking() {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.dropNow)
	s.dropNow = make(chan struct{})
}
