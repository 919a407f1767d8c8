package eventstream

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// Options configure a Server.
type Options struct {
	// BufferSize is how many items the broker keeps (Nomad's
	// event_buffer_size, default 100).
	BufferSize int
	// Heartbeat is the interval of the {} keep-alive lines (Nomad: 30s).
	Heartbeat time.Duration
}

// Server is a fake Nomad HTTP API that serves GET /v1/event/stream with the
// semantics of a real agent (v1.6.5):
//
//   - the first line is {}, then a {} heartbeat every Options.Heartbeat;
//   - index is inclusive; 0 starts at the oldest buffered item, an index
//     older than the buffer silently starts at the oldest, one past the
//     newest starts at the newest;
//   - the buffer holds the last Options.BufferSize items; a subscriber whose
//     item left the buffer gets "event dropped from buffer" appended to its
//     stream, which then ends;
//   - topic=Topic[:Key] and namespace= filter the events as Nomad does;
//     without namespace= only "default" and namespace-less events arrive;
//   - ACL tokens (RequireToken) are answered 403 "Permission denied".
//
// Tests drive it: Publish adds items, Cut and CutNextAfter break streams in
// the middle of a line, Restart replaces the buffer (an agent restart, or an
// index regression with a -dev agent), FailNext answers errors, Silence
// stops all output. SetList serves list endpoints with an X-Nomad-Index.
type Server struct {
	opts Options
	b    *broker
	http *httptest.Server

	mu       sync.Mutex
	conns    map[*stream]struct{}
	requests []Request
	fails    []failure
	cutAfter []int
	token    string
	silent   bool
	lists    map[string]List
	closing  chan struct{}
	beats    int
}

// Request is one request the server received.
type Request struct {
	Path      string
	Query     url.Values
	Token     string
	Status    int
	StartedAt time.Time
	// LastIndex is the index of the last complete frame a stream sent.
	LastIndex uint64
}

// Index returns the request's index parameter (0 when absent).
func (r Request) Index() uint64 {
	n, _ := strconv.ParseUint(r.Query.Get("index"), 10, 64)
	return n
}

type failure struct {
	status int
	body   string
}

// New starts a server on a loopback port.
func New(opts Options) *Server {
	if opts.BufferSize <= 0 {
		opts.BufferSize = 100
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = 30 * time.Second
	}
	s := &Server{
		opts:    opts,
		b:       newBroker(opts.BufferSize),
		conns:   map[*stream]struct{}{},
		lists:   map[string]List{},
		closing: make(chan struct{}),
	}
	s.http = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// URL is the server's base address, for NOMAD_ADDR.
func (s *Server) URL() string { return s.http.URL }

// Close ends every stream and stops the server.
func (s *Server) Close() {
	s.mu.Lock()
	select {
	case <-s.closing:
	default:
		close(s.closing)
	}
	s.mu.Unlock()
	s.http.CloseClientConnections()
	s.http.Close()
}

// Publish appends items to the buffer, in order; subscribers get them at
// once.
func (s *Server) Publish(items ...Item) { s.b.publish(items...) }

// Restart simulates an agent restart: every open stream is cut in the middle
// of a line and the buffer is replaced by buffer. A restarted agent with a
// persistent data dir rebuilds its buffer by replaying the Raft log (same
// indexes, possibly rebuilt payloads); a -dev agent starts over at low
// indexes, which clients see as the index going backwards.
func (s *Server) Restart(buffer []Item) {
	s.b.replace(buffer)
	s.Cut()
}

// Cut breaks every open stream: each writes part of a line (a frame's
// first half when one is due) and the connection is closed without ending
// the chunked response, as when an agent is killed.
func (s *Server) Cut() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.cutOnce.Do(func() { close(c.cut) })
	}
}

// CutNextAfter makes the next stream request send frames data lines (not
// counting heartbeats) and then break in the middle of the following one.
// Several calls apply to successive requests.
func (s *Server) CutNextAfter(frames int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cutAfter = append(s.cutAfter, frames)
}

// FailNext answers the next n stream requests with status and body.
func (s *Server) FailNext(n, status int, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := 0; i < n; i++ {
		s.fails = append(s.fails, failure{status, body})
	}
}

// RequireToken makes requests without this X-Nomad-Token fail as an agent
// with ACLs answers them (v1.6.5): a request with another token, which the
// agent does not know, gets 403 "Permission denied"; a request without a
// token (the anonymous policy lacks the capability) gets 500 "Permission
// denied", the answer Nomad also gives a known token without the
// capability. An empty token accepts every request.
func (s *Server) RequireToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.token = token
}

// EndWith ends every open stream normally after writing message without a
// line terminator, as Nomad does when a subscription fails after the 200
// answer (for example "event dropped from buffer" for a slow subscriber).
func (s *Server) EndWith(message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.endOnce.Do(func() {
			c.endMsg = message
			close(c.end)
		})
	}
}

// Heartbeats is the number of {} lines sent so far, the first line of each
// stream included.
func (s *Server) Heartbeats() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.beats
}

// Silence stops (true) or resumes (false) all output of new and open
// streams, heartbeats included: a connection that is open but dead.
func (s *Server) Silence(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.silent = on
	for c := range s.conns {
		c.wake()
	}
}

// SetList serves GET path with body and the X-Nomad-Index header.
func (s *Server) SetList(path string, l List) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lists[path] = l
}

// Requests returns the requests received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// StreamRequests returns the event stream requests received so far.
func (s *Server) StreamRequests() []Request {
	var out []Request
	for _, r := range s.Requests() {
		if r.Path == "/v1/event/stream" {
			out = append(out, r)
		}
	}
	return out
}

// OpenStreams is the number of streams being served.
func (s *Server) OpenStreams() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// record logs a request and returns its position in the log.
func (s *Server) record(r *http.Request, status int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, Request{
		Path: r.URL.Path, Query: r.URL.Query(), Token: r.Header.Get("X-Nomad-Token"),
		Status: status, StartedAt: time.Now(),
	})
	return len(s.requests) - 1
}

func (s *Server) sent(req int, index uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests[req].LastIndex = index
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	token := s.token
	s.mu.Unlock()
	if got := r.Header.Get("X-Nomad-Token"); token != "" && got != token {
		status := http.StatusForbidden
		if got == "" {
			status = http.StatusInternalServerError
		}
		s.record(r, status)
		http.Error(w, "Permission denied", status)
		return
	}
	if r.URL.Path == "/v1/event/stream" {
		s.serveStream(w, r)
		return
	}
	s.mu.Lock()
	l, ok := s.lists[r.URL.Path]
	s.mu.Unlock()
	if !ok {
		s.record(r, http.StatusNotFound)
		http.NotFound(w, r)
		return
	}
	s.record(r, http.StatusOK)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Nomad-Index", strconv.FormatUint(l.Index, 10))
	w.Header().Set("X-Nomad-Knownleader", "true")
	_, _ = w.Write(l.Body)
}
