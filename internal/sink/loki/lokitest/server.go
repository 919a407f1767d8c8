// Package lokitest is a fake Loki for tests: an HTTP server that decodes
// the push API's real wire formats (snappy-compressed protobuf decoded with
// Loki's own generated types from github.com/grafana/loki/pkg/push, and
// JSON, optionally gzip-compressed), stores the entries per tenant and
// stream, and answers the way Loki's distributor does:
//
//   - 204 when every entry was stored;
//   - 400 with one line per problem when some entries are invalid (line too
//     long, out of order for a stream when OrderedWrites is set): the valid
//     entries of the same request are stored all the same;
//   - an entry identical to one stored already (tenant, stream, time and
//     line) is ignored, as Loki ignores exact duplicates;
//   - 400 for a body that does not decode or labels that do not parse;
//   - 401 "no org id" without X-Scope-OrgID when MultiTenant is set;
//   - 413 for a body above MaxBodyBytes (after decompression);
//   - whatever a Fault installed with SetFault answers, storing nothing.
//
// GET /ready answers 200 "ready" unless SetReady(false).
package lokitest

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grafana/loki/pkg/push"
	"github.com/klauspost/compress/snappy"
)

// Entry is one stored log entry.
type Entry struct {
	Tenant string
	// Labels is the stream's label set; Stream is it as sent.
	Labels   map[string]string
	Stream   string
	Time     time.Time
	Line     string
	Metadata map[string]string
}

// Push is one request as the server saw it.
type Push struct {
	Tenant          string
	ContentType     string
	ContentEncoding string
	Header          http.Header
	// RawBytes is the size of the body as sent; Bytes after decompression.
	RawBytes, Bytes int
	// Streams are the streams in the order of the body, with their
	// entries in the order of the body.
	Streams []Stream
	// Status is the answer's status code.
	Status int
}

// Entries returns the number of entries of the push.
func (p *Push) Entries() int {
	n := 0
	for _, s := range p.Streams {
		n += len(s.Entries)
	}
	return n
}

// Stream is one stream of a push.
type Stream struct {
	Labels  string
	Entries []Entry
}

// Reply is an answer a Fault chooses.
type Reply struct {
	Status int
	Header http.Header
	Body   string
}

// Fault decides the answer to a decoded push before anything is stored;
// nil lets the push through.
type Fault func(p *Push) *Reply

// Server is a fake Loki. Its fields configure it before the first request.
type Server struct {
	// MultiTenant requires X-Scope-OrgID.
	MultiTenant bool
	// OrderedWrites refuses entries older than the stream's newest, as
	// Loki did before 2.4 and does with unordered_writes = false.
	OrderedWrites bool
	// MaxBodyBytes answers 413 above this many decompressed bytes; 0 is
	// no limit.
	MaxBodyBytes int
	// MaxLineBytes refuses longer lines with 400, storing the rest of the
	// request; 0 is no limit.
	MaxLineBytes int

	t   testing.TB
	srv *httptest.Server

	mu      sync.Mutex
	fault   Fault
	ready   bool
	entries []Entry
	newest  map[string]time.Time // tenant + stream -> newest stored entry
	stored  map[string]bool      // tenant + stream + time + line of every stored entry
	pushes  []Push
}

// New returns a server that is not started yet; set its fields, then call
// Start. t reports malformed requests as test errors.
func New(t testing.TB) *Server {
	return &Server{t: t, ready: true, newest: map[string]time.Time{}, stored: map[string]bool{}}
}

// Start starts the server on a loopback port; it is closed when the test
// ends.
func (s *Server) Start() *Server {
	s.srv = httptest.NewServer(s)
	s.t.Cleanup(s.srv.Close)
	return s
}

// URL is the server's base URL, the sink's endpoint.
func (s *Server) URL() string { return s.srv.URL }

// SetFault installs f; nil removes it.
func (s *Server) SetFault(f Fault) { s.mu.Lock(); s.fault = f; s.mu.Unlock() }

// SetReady sets what GET /ready answers: 200 or 503.
func (s *Server) SetReady(ok bool) { s.mu.Lock(); s.ready = ok; s.mu.Unlock() }

// Entries returns the stored entries in the order they were stored.
func (s *Server) Entries() []Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.entries)
}

// Pushes returns every push received, answered or not, in order.
func (s *Server) Pushes() []Push {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.pushes)
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/ready" && r.Method == http.MethodGet:
		s.mu.Lock()
		ready := s.ready
		s.mu.Unlock()
		if !ready {
			http.Error(w, "Ingester not ready: waiting for 15s after being ready", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ready\n")
	case r.URL.Path == "/loki/api/v1/push" && r.Method == http.MethodPost:
		s.push(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (s *Server) push(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		return // the client went away
	}
	p := Push{
		Tenant: r.Header.Get("X-Scope-OrgID"), ContentType: r.Header.Get("Content-Type"),
		ContentEncoding: r.Header.Get("Content-Encoding"), Header: r.Header.Clone(), RawBytes: len(raw),
	}
	status, msg := s.decode(&p, raw)
	if status == 0 && s.MultiTenant && p.Tenant == "" {
		status, msg = http.StatusUnauthorized, "no org id"
	}
	if status == 0 && s.MaxBodyBytes > 0 && p.Bytes > s.MaxBodyBytes {
		status, msg = http.StatusRequestEntityTooLarge,
			fmt.Sprintf("rpc error: code = ResourceExhausted desc = grpc: received message larger than max (%d vs. %d)", p.Bytes, s.MaxBodyBytes)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var reply *Reply
	if status == 0 && s.fault != nil {
		reply = s.fault(&p)
	}
	switch {
	case reply != nil:
		status = reply.Status
		for k, v := range reply.Header {
			w.Header()[k] = v
		}
		msg = reply.Body
	case status == 0:
		status, msg = s.store(&p)
	}
	p.Status = status
	s.pushes = append(s.pushes, p)
	if status == http.StatusNoContent {
		w.WriteHeader(status)
		return
	}
	http.Error(w, msg, status)
}

// decode fills p from the body; it returns a non-zero status for a body
// Loki would refuse.
func (s *Server) decode(p *Push, raw []byte) (status int, msg string) {
	body := raw
	switch p.ContentEncoding {
	case "":
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err == nil {
			body, err = io.ReadAll(zr)
		}
		if err != nil {
			s.t.Errorf("lokitest: bad gzip body: %v", err)
			return http.StatusBadRequest, err.Error()
		}
	default:
		s.t.Errorf("lokitest: unsupported Content-Encoding %q", p.ContentEncoding)
		return http.StatusUnsupportedMediaType, "unsupported Content-Encoding"
	}
	var err error
	switch p.ContentType {
	case "application/x-protobuf":
		if p.ContentEncoding != "" {
			s.t.Errorf("lokitest: protobuf push with Content-Encoding %q", p.ContentEncoding)
		}
		body, err = snappy.Decode(nil, body)
		if err == nil {
			p.Bytes = len(body)
			err = decodeProto(p, body)
		}
	case "application/json":
		p.Bytes = len(body)
		err = decodeJSON(p, body)
	default:
		s.t.Errorf("lokitest: unsupported Content-Type %q", p.ContentType)
		return http.StatusUnsupportedMediaType, "unsupported Content-Type " + p.ContentType
	}
	if err != nil {
		s.t.Errorf("lokitest: %s body does not decode: %v", p.ContentType, err)
		return http.StatusBadRequest, err.Error()
	}
	return 0, ""
}

func decodeProto(p *Push, body []byte) error {
	var req push.PushRequest
	if err := req.Unmarshal(body); err != nil {
		return fmt.Errorf("unmarshalling PushRequest: %w", err)
	}
	for _, st := range req.Streams {
		labels, err := ParseLabels(st.Labels)
		if err != nil {
			return err
		}
		out := Stream{Labels: st.Labels}
		for _, e := range st.Entries {
			var md map[string]string
			for _, l := range e.StructuredMetadata {
				if md == nil {
					md = map[string]string{}
				}
				md[l.Name] = l.Value
			}
			out.Entries = append(out.Entries, Entry{
				Tenant: p.Tenant, Labels: labels, Stream: st.Labels,
				Time: e.Timestamp, Line: strings.Clone(e.Line), Metadata: md,
			})
		}
		p.Streams = append(p.Streams, out)
	}
	return nil
}

func decodeJSON(p *Push, body []byte) error {
	var req struct {
		Streams []struct {
			Stream map[string]string   `json:"stream"`
			Values [][]json.RawMessage `json:"values"`
		} `json:"streams"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return fmt.Errorf("decoding JSON push: %w", err)
	}
	for _, st := range req.Streams {
		if len(st.Stream) == 0 {
			return fmt.Errorf("stream without labels")
		}
		out := Stream{Labels: FormatLabels(st.Stream)}
		for _, v := range st.Values {
			if len(v) != 2 && len(v) != 3 {
				return fmt.Errorf("value with %d elements", len(v))
			}
			var ts, line string
			if err := json.Unmarshal(v[0], &ts); err != nil {
				return fmt.Errorf("timestamp %s: %w", v[0], err)
			}
			ns, err := strconv.ParseInt(ts, 10, 64)
			if err != nil {
				return fmt.Errorf("timestamp %q: %w", ts, err)
			}
			if err := json.Unmarshal(v[1], &line); err != nil {
				return fmt.Errorf("line %s: %w", v[1], err)
			}
			var md map[string]string
			if len(v) == 3 {
				if err := json.Unmarshal(v[2], &md); err != nil {
					return fmt.Errorf("structured metadata %s: %w", v[2], err)
				}
			}
			out.Entries = append(out.Entries, Entry{
				Tenant: p.Tenant, Labels: st.Stream, Stream: out.Labels,
				Time: time.Unix(0, ns).UTC(), Line: line, Metadata: md,
			})
		}
		p.Streams = append(p.Streams, out)
	}
	return nil
}

// store keeps the valid entries of p and returns Loki's answer.
func (s *Server) store(p *Push) (int, string) {
	var problems []string
	for _, st := range p.Streams {
		key := p.Tenant + "\x00" + st.Labels
		for _, e := range st.Entries {
			id := key + "\x00" + strconv.FormatInt(e.Time.UnixNano(), 10) + "\x00" + e.Line
			if s.stored[id] {
				continue
			}
			if s.MaxLineBytes > 0 && len(e.Line) > s.MaxLineBytes {
				problems = append(problems, fmt.Sprintf("stream '%s' has a line too long: %d bytes, limit %d", st.Labels, len(e.Line), s.MaxLineBytes))
				continue
			}
			if newest, ok := s.newest[key]; ok && s.OrderedWrites && e.Time.Before(newest) {
				problems = append(problems, fmt.Sprintf("entry with timestamp %s ignored, reason: 'entry out of order' for stream: %s", e.Time, st.Labels))
				continue
			}
			if e.Time.After(s.newest[key]) {
				s.newest[key] = e.Time
			}
			s.entries = append(s.entries, e)
			s.stored[id] = true
		}
	}
	if len(problems) > 0 {
		return http.StatusBadRequest, strings.Join(problems, "\n")
	}
	return http.StatusNoContent, ""
}
