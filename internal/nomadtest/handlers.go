package nomadtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Endpoint names an API endpoint of the fake agent.
type Endpoint string

// The endpoints the server answers.
const (
	EndpointAgentSelf       Endpoint = "agent_self"       // GET /v1/agent/self
	EndpointNode            Endpoint = "node"             // GET /v1/node/<id>
	EndpointNodeAllocations Endpoint = "node_allocations" // GET /v1/node/<id>/allocations
	EndpointAllocation      Endpoint = "allocation"       // GET /v1/allocation/<id>
)

// Fault is an injected answer that replaces the normal one.
type Fault struct {
	// Status answers with this HTTP status and Body (text/plain, as Nomad
	// sends errors). An empty Body gets Nomad's usual text for the status:
	// "Permission denied" (403), "rpc error: No cluster leader" (500), ...
	Status int
	Body   string
	// Drop closes the connection without an answer, as a killed agent
	// does. Go's HTTP client silently retries a GET once when a reused
	// keep-alive connection closes before any answer: inject a drop twice
	// for a Go client to see it.
	Drop bool
	// Truncate sends the normal status, headers and the first half of the
	// body, then closes the connection.
	Truncate bool
	// Delay waits this long before answering (blocking queries then wait
	// on top of it).
	Delay time.Duration
}

type faultEntry struct {
	f    Fault
	left int // < 0: forever
}

// InjectFault makes the next times requests to ep get f instead of their
// answer; times <= 0 means every request until ClearFaults. Faults queue
// up in the order injected.
func (s *Server) InjectFault(ep Endpoint, f Fault, times int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if times <= 0 {
		times = -1
	}
	s.faults[ep] = append(s.faults[ep], &faultEntry{f: f, left: times})
}

// Fail makes the next times requests to ep answer status with Nomad's
// usual body; times <= 0 means until ClearFaults.
func (s *Server) Fail(ep Endpoint, status, times int) {
	s.InjectFault(ep, Fault{Status: status}, times)
}

// ClearFaults removes every injected fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.faults)
}

func (s *Server) nextFaultLocked(ep Endpoint) (Fault, bool) {
	q := s.faults[ep]
	if len(q) == 0 {
		return Fault{}, false
	}
	fe := q[0]
	if fe.left > 0 {
		fe.left--
		if fe.left == 0 {
			s.faults[ep] = q[1:]
		}
	}
	return fe.f, true
}

func defaultBody(status int) string {
	switch status {
	case http.StatusForbidden:
		return "Permission denied"
	case http.StatusNotFound:
		return "not found"
	case http.StatusInternalServerError:
		return "rpc error: No cluster leader"
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return "rpc error: failed to get conn: dial tcp 127.0.0.1:4647: connect: connection refused"
	}
	return http.StatusText(status)
}

// route maps a path to an endpoint and its id argument.
func route(path string) (Endpoint, string, bool) {
	switch {
	case path == "/v1/agent/self":
		return EndpointAgentSelf, "", true
	case strings.HasPrefix(path, "/v1/allocation/"):
		id := strings.TrimPrefix(path, "/v1/allocation/")
		return EndpointAllocation, id, id != "" && !strings.Contains(id, "/")
	case strings.HasPrefix(path, "/v1/node/"):
		rest := strings.TrimPrefix(path, "/v1/node/")
		if id, ok := strings.CutSuffix(rest, "/allocations"); ok {
			return EndpointNodeAllocations, id, id != "" && !strings.Contains(id, "/")
		}
		return EndpointNode, rest, rest != "" && !strings.Contains(rest, "/")
	}
	return "", "", false
}

// parseWait reads Nomad's blocking query parameters: index and wait
// (default 5m, at most 10m).
func parseWait(r *http.Request) (uint64, time.Duration) {
	q := r.URL.Query()
	index, _ := strconv.ParseUint(q.Get("index"), 10, 64)
	wait := 5 * time.Minute
	if w := q.Get("wait"); w != "" {
		if d, err := time.ParseDuration(w); err == nil && d > 0 {
			wait = d
		}
	}
	return index, min(wait, 10*time.Minute)
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.active++
	down := s.down
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.active--
		if s.active == 0 {
			s.idle.Broadcast()
		}
		s.mu.Unlock()
	}()
	select {
	case <-down:
		dropConn(w)
		return
	default:
	}

	ep, id, ok := route(r.URL.Path)
	if !ok || r.Method != http.MethodGet {
		writeError(w, http.StatusNotFound, "Invalid URL")
		return
	}
	index, wait := parseWait(r)
	token := r.Header.Get("X-Nomad-Token")
	s.mu.Lock()
	s.counts[ep]++
	s.log = append(s.log, Request{
		Endpoint: ep, Path: r.URL.Path, Index: index, Wait: wait, Token: token,
		Namespace: r.URL.Query().Get("namespace"), Region: r.URL.Query().Get("region"),
	})
	fault, faulty := s.nextFaultLocked(ep)
	required := s.token
	s.mu.Unlock()

	if faulty && fault.Delay > 0 && !sleepOr(fault.Delay, down, r) {
		return
	}
	switch {
	case faulty && fault.Drop:
		dropConn(w)
		return
	case faulty && fault.Status != 0:
		body := fault.Body
		if body == "" {
			body = defaultBody(fault.Status)
		}
		writeError(w, fault.Status, body)
		return
	case required != "" && token == "":
		writeError(w, http.StatusForbidden, "Permission denied")
		return
	case required != "" && token != required:
		writeError(w, http.StatusForbidden, "ACL token not found")
		return
	}

	if ep != EndpointAgentSelf && index > 0 && !s.block(func() uint64 { return s.indexLocked(ep, id) }, index, wait, down, w, r) {
		return
	}
	status, body, indexed := s.answer(ep, id)
	if faulty && fault.Truncate {
		truncate(w, status, body, indexed)
		return
	}
	h := w.Header()
	if status != http.StatusOK {
		h.Set("Content-Type", "text/plain; charset=utf-8")
	} else {
		h.Set("Content-Type", "application/json")
	}
	h.Set("Vary", "Accept-Encoding")
	if indexed != 0 {
		h.Set("X-Nomad-Index", strconv.FormatUint(indexed, 10))
		h.Set("X-Nomad-Knownleader", "true")
		h.Set("X-Nomad-Lastcontact", "0")
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// indexLocked is the X-Nomad-Index of an endpoint's answer. For a node's
// allocations it is, as in Nomad (Node.GetAllocs), the highest
// ModifyIndex of the node's allocations (of every namespace, readable or
// not), or the allocation table's index when the node has none; for the
// other endpoints the current index.
func (s *Server) indexLocked(ep Endpoint, id string) uint64 {
	if ep != EndpointNodeAllocations {
		return s.index
	}
	var idx uint64
	found := false
	for _, e := range s.allocs {
		if e.obj["NodeID"] != id {
			continue
		}
		found = true
		if mi, ok := e.obj["ModifyIndex"].(json.Number); ok {
			if n, err := strconv.ParseUint(string(mi), 10, 64); err == nil {
				idx = max(idx, n)
			}
		}
	}
	if !found {
		return s.index
	}
	return idx
}

// block waits until the endpoint's index (from current, called under the
// lock) exceeds index, wait elapses, or the connection must end. It
// returns false when the request was ended.
func (s *Server) block(current func() uint64, index uint64, wait time.Duration, down chan struct{}, w http.ResponseWriter, r *http.Request) bool {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		s.mu.Lock()
		if current() > index {
			s.mu.Unlock()
			return true
		}
		changed, drop := s.changed, s.dropNow
		s.blocking++
		s.mu.Unlock()
		var ended, answer bool
		select {
		case <-changed:
		case <-timer.C:
			answer = true
		case <-drop:
			dropConn(w)
			ended = true
		case <-down:
			dropConn(w)
			ended = true
		case <-r.Context().Done():
			ended = true
		}
		s.mu.Lock()
		s.blocking--
		s.mu.Unlock()
		if ended {
			return false
		}
		if answer {
			return true
		}
	}
}

// answer renders an endpoint's answer: status, body, and the index for
// the X-Nomad-Index header (0: no index headers).
func (s *Server) answer(ep Endpoint, id string) (int, []byte, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch ep {
	case EndpointAgentSelf:
		if s.agent == fixtureAgent() {
			return http.StatusOK, Fixture(FixtureAgentSelf), 0
		}
		return http.StatusOK, marshal(s.agentSelfLocked()), 0
	case EndpointNode:
		if !s.agent.Client || id != s.agent.NodeID {
			return http.StatusNotFound, []byte("node not found"), s.index
		}
		if s.agent == fixtureAgent() {
			return http.StatusOK, Fixture(FixtureNode), s.index
		}
		return http.StatusOK, marshal(s.nodeLocked()), s.index
	case EndpointNodeAllocations:
		body := []byte{'['}
		n := 0
		for _, aid := range s.order {
			e := s.allocs[aid]
			if e.obj["NodeID"] != id {
				continue
			}
			if ns, _ := e.obj["Namespace"].(string); s.readable != nil && !s.readable[ns] {
				continue
			}
			if n > 0 {
				body = append(body, ',')
			}
			body = append(body, e.body()...)
			n++
		}
		return http.StatusOK, append(body, ']'), s.indexLocked(ep, id)
	case EndpointAllocation:
		e := s.allocs[id]
		if e == nil {
			return http.StatusNotFound, []byte("alloc not found"), s.index
		}
		return http.StatusOK, e.body(), s.index
	}
	return http.StatusNotFound, []byte("Invalid URL"), 0
}

func (s *Server) agentSelfLocked() map[string]any {
	var m map[string]any
	if err := decodeJSON(Fixture(FixtureAgentSelf), &m); err != nil {
		panic(fmt.Sprintf("nomadtest: agent-self fixture: %v", err))
	}
	a := s.agent
	cfg := m["config"].(map[string]any)
	cfg["NodeName"] = a.NodeName
	cfg["Region"] = a.Region
	cfg["Datacenter"] = a.Datacenter
	cfg["DataDir"] = a.DataDir
	client := cfg["Client"].(map[string]any)
	client["AllocDir"] = a.AllocDir
	client["Enabled"] = a.Client
	if a.DataDir != "" {
		client["StateDir"] = filepath.Join(a.DataDir, "client")
	}
	member := m["member"].(map[string]any)
	member["Name"] = a.NodeName + "." + a.Region
	stats := m["stats"].(map[string]any)
	if a.Client {
		stats["client"].(map[string]any)["node_id"] = a.NodeID
	} else {
		delete(stats, "client")
	}
	return m
}

func (s *Server) nodeLocked() map[string]any {
	var m map[string]any
	if err := decodeJSON(Fixture(FixtureNode), &m); err != nil {
		panic(fmt.Sprintf("nomadtest: node fixture: %v", err))
	}
	m["ID"] = s.agent.NodeID
	m["Name"] = s.agent.NodeName
	m["Datacenter"] = s.agent.Datacenter
	return m
}

func writeError(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Vary", "Accept-Encoding")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

// dropConn closes the connection without writing anything.
func dropConn(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("nomadtest: connection cannot be hijacked")
	}
	conn, _, err := hj.Hijack()
	if err == nil {
		_ = conn.Close()
	}
}

// truncate writes the status line, headers announcing the full body, half
// of the body, and closes the connection.
func truncate(w http.ResponseWriter, status int, body []byte, index uint64) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("nomadtest: connection cannot be hijacked")
	}
	conn, buf, err := hj.Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	fmt.Fprintf(buf, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nVary: Accept-Encoding\r\n", status, http.StatusText(status))
	if index != 0 {
		fmt.Fprintf(buf, "X-Nomad-Index: %d\r\nX-Nomad-Knownleader: true\r\nX-Nomad-Lastcontact: 0\r\n", index)
	}
	fmt.Fprintf(buf, "Content-Length: %d\r\n\r\n", len(body))
	_, _ = buf.Write(body[:len(body)/2])
	_ = buf.Flush()
}

// sleepOr waits d; false when the server went down or the client left.
func sleepOr(d time.Duration, down chan struct{}, r *http.Request) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-down:
		return false
	case <-r.Context().Done():
		return false
	}
}
