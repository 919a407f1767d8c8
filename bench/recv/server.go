package recv

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/grafana/loki/pkg/push"
	"github.com/klauspost/compress/snappy"
)

// LokiPath is where Loki push requests are accepted.
const LokiPath = "/loki/api/v1/push"

// Server serves a Receiver over HTTP.
type Server struct {
	r    *Receiver
	ln   net.Listener
	srv  *http.Server
	done chan struct{}
}

// Start listens on addr ("127.0.0.1:0" picks a port) and serves r in the
// background until Close.
func Start(addr string, r *Receiver) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("receiver: listening on %s: %w", addr, err)
	}
	s := &Server{r: r, ln: ln, done: make(chan struct{})}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(ln)
	}()
	return s, nil
}

// URL is the base URL, "http://127.0.0.1:<port>".
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() }

// Close stops the server.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	<-s.done
	return err
}

var buffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// ServeHTTP takes one request: Loki pushes on LokiPath, the http sink's
// bodies anywhere else.
func (s *Server) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost && req.Method != http.MethodPut {
		w.WriteHeader(http.StatusOK) // health checks
		return
	}
	raw := buffers.Get().(*bytes.Buffer)
	defer buffers.Put(raw)
	raw.Reset()
	if _, err := raw.ReadFrom(req.Body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	arrived := time.Now()
	body := raw.Bytes()
	if req.Header.Get("Content-Encoding") == "gzip" {
		plain := buffers.Get().(*bytes.Buffer)
		defer buffers.Put(plain)
		plain.Reset()
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err == nil {
			_, err = plain.ReadFrom(zr)
		}
		if err != nil {
			http.Error(w, "gzip: "+err.Error(), http.StatusBadRequest)
			return
		}
		body = plain.Bytes()
	}
	var objs [][]byte
	var err error
	status := http.StatusOK
	if req.URL.Path == LokiPath {
		status = http.StatusNoContent
		objs, body, err = lokiLines(body, req.Header.Get("Content-Type"))
	} else {
		objs, err = sinkObjects(body)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.r.events(objs, arrived, raw.Len(), len(body))
	w.WriteHeader(status)
}

// sinkObjects splits an http sink body: NDJSON, or a JSON array.
func sinkObjects(body []byte) ([][]byte, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		var arr []json.RawMessage
		if err := json.Unmarshal(trimmed, &arr); err != nil {
			return nil, fmt.Errorf("JSON array body: %w", err)
		}
		objs := make([][]byte, len(arr))
		for i, o := range arr {
			objs[i] = o
		}
		return objs, nil
	}
	objs := make([][]byte, 0, bytes.Count(body, []byte{'\n'})+1)
	for len(body) > 0 {
		i := bytes.IndexByte(body, '\n')
		if i < 0 {
			i = len(body)
		}
		if line := body[:i]; len(bytes.TrimSpace(line)) > 0 {
			objs = append(objs, line)
		}
		body = body[min(i+1, len(body)):]
	}
	return objs, nil
}

// lokiLines returns the lines of a Loki push (snappy-compressed protobuf,
// or JSON), and the decoded body.
func lokiLines(body []byte, contentType string) ([][]byte, []byte, error) {
	if strings.HasPrefix(contentType, "application/json") {
		var req struct {
			Streams []struct {
				Values [][]json.RawMessage `json:"values"`
			} `json:"streams"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			return nil, body, fmt.Errorf("JSON push: %w", err)
		}
		var objs [][]byte
		for _, st := range req.Streams {
			for _, v := range st.Values {
				if len(v) < 2 {
					return nil, body, errors.New("JSON push: value without a line")
				}
				var line string
				if err := json.Unmarshal(v[1], &line); err != nil {
					return nil, body, fmt.Errorf("JSON push line: %w", err)
				}
				objs = append(objs, []byte(line))
			}
		}
		return objs, body, nil
	}
	plain, err := snappy.Decode(nil, body)
	if err != nil {
		return nil, body, fmt.Errorf("snappy: %w", err)
	}
	var req push.PushRequest
	if err := req.Unmarshal(plain); err != nil {
		return nil, plain, fmt.Errorf("PushRequest: %w", err)
	}
	var objs [][]byte
	for _, st := range req.Streams {
		if len(st.Labels) == 0 {
			return nil, plain, errors.New("stream without labels")
		}
		for _, e := range st.Entries {
			// Read only, while the request is handled.
			objs = append(objs, unsafe.Slice(unsafe.StringData(e.Line), len(e.Line)))
		}
	}
	return objs, plain, nil
}
