package chaos

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// record is one event as drover's http sink delivers it.
type record struct {
	Message    *string `json:"message"`
	Truncated  bool    `json:"truncated"`
	Partial    bool    `json:"partial"`
	SourceType string  `json:"source_type"`
	Stream     string  `json:"stream"`
	Nomad      struct {
		Namespace string `json:"namespace"`
		NodeID    string `json:"node_id"`
		JobName   string `json:"job_name"`
		TaskName  string `json:"task_name"`
		AllocID   string `json:"alloc_id"`
	} `json:"nomad"`
	Kubernetes struct {
		Namespace     string `json:"namespace"`
		PodName       string `json:"pod_name"`
		PodUID        string `json:"pod_uid"`
		ContainerName string `json:"container_name"`
	} `json:"kubernetes"`
}

// sinkMode is how the receiver answers.
type sinkMode struct {
	// down: the port refuses connections.
	down bool
	// status, when not 0, answers every request with it (and
	// Retry-After: retryAfter when set); nothing is taken.
	status     int
	retryAfter string
	// delay holds every answer back this long (drover's request timeout
	// may run out first; what the receiver took then still counts).
	delay time.Duration
	// dropAfterRead takes the events, then closes the connection without
	// an answer: drover must send them again (a lost acknowledgement).
	dropAfterRead bool
}

// receiver is the HTTP endpoint of drover's http sink. It hands every
// event it takes to observe, before it answers 200: what drover saw
// acknowledged was observed.
type receiver struct {
	addr    string
	observe func(*record)
	fail    func(string)

	mu       sync.Mutex
	mode     sinkMode
	srv      *http.Server
	requests int
	taken    int // requests whose events were taken
}

// newReceiver listens on a loopback port.
func newReceiver(observe func(*record), fail func(string)) (*receiver, error) {
	r := &receiver{observe: observe, fail: fail}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("receiver: %w", err)
	}
	r.addr = ln.Addr().String()
	r.serve(ln)
	return r, nil
}

func (r *receiver) url() string { return "http://" + r.addr + "/ingest" }

func (r *receiver) serve(ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(r.handle), ReadHeaderTimeout: 10 * time.Second}
	r.srv = srv
	go func() { _ = srv.Serve(ln) }()
}

// setMode switches the answers; a change of down closes or reopens the
// port (on the same address).
func (r *receiver) setMode(m sinkMode) error {
	r.mu.Lock()
	old := r.mode
	r.mode = m
	srv := r.srv
	if m.down && !old.down {
		r.srv = nil
	}
	r.mu.Unlock()
	switch {
	case m.down && !old.down && srv != nil:
		return srv.Close()
	case !m.down && old.down:
		var ln net.Listener
		var err error
		for i := 0; i < 200; i++ { // the port may linger for a moment
			if ln, err = net.Listen("tcp", r.addr); err == nil {
				break
			}
			time.Sleep(25 * time.Millisecond)
		}
		if err != nil {
			return fmt.Errorf("receiver: listening again on %s: %w", r.addr, err)
		}
		r.mu.Lock()
		r.serve(ln)
		r.mu.Unlock()
	}
	return nil
}

// close stops the receiver for good.
func (r *receiver) close() {
	r.mu.Lock()
	srv := r.srv
	r.srv = nil
	r.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// stats returns the requests received and those whose events were taken.
func (r *receiver) stats() (requests, taken int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests, r.taken
}

func (r *receiver) handle(w http.ResponseWriter, req *http.Request) {
	if req.Method == http.MethodHead || req.Method == http.MethodGet {
		w.WriteHeader(http.StatusOK) // the sink's healthcheck
		return
	}
	r.mu.Lock()
	m := r.mode
	r.requests++
	r.mu.Unlock()
	if m.status != 0 {
		_, _ = io.Copy(io.Discard, req.Body)
		if m.retryAfter != "" {
			w.Header().Set("Retry-After", m.retryAfter)
		}
		http.Error(w, "chaos: "+strconv.Itoa(m.status), m.status)
		return
	}
	recs, err := decodeBody(req)
	if err != nil {
		if req.Context().Err() == nil {
			r.fail(fmt.Sprintf("receiver: undecodable request body: %v", err))
		}
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if m.delay > 0 {
		t := time.NewTimer(m.delay)
		select {
		case <-t.C:
		case <-req.Context().Done():
			// drover gave up (request timeout) or died: the events still
			// arrived, and drover sends them again.
			t.Stop()
		}
	}
	for _, rec := range recs {
		r.observe(rec)
	}
	r.mu.Lock()
	r.taken++
	r.mu.Unlock()
	if m.dropAfterRead {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	}
	w.WriteHeader(http.StatusOK)
}

// decodeBody reads an NDJSON or JSON-array body, gzip-compressed or not.
func decodeBody(req *http.Request) ([]*record, error) {
	var body io.Reader = req.Body
	if req.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(req.Body)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		body = zr
	}
	br := bufio.NewReaderSize(body, 64<<10)
	data, err := io.ReadAll(br)
	if err != nil {
		return nil, fmt.Errorf("reading body: %w", err)
	}
	data = bytes.TrimSpace(data)
	if len(data) > 0 && data[0] == '[' {
		var recs []*record
		if err := json.Unmarshal(data, &recs); err != nil {
			return nil, fmt.Errorf("JSON array: %w", err)
		}
		return recs, nil
	}
	var recs []*record
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		rec := new(record)
		if err := dec.Decode(rec); err != nil {
			if errors.Is(err, io.EOF) {
				return recs, nil
			}
			return nil, fmt.Errorf("NDJSON: %w", err)
		}
		recs = append(recs, rec)
	}
}
