package clickhouse

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sync"
	"testing"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/sink/clickhouse/clickhousetest"
	"github.com/drover-dev/drover/internal/sink/sinktest"
)

// conformanceTable is the conformance suite's table for events whose
// nomad.job_name is "web" (the sink's table template is
// "logs_{{ nomad.job_name }}"): a Memory table, whose rows come back in
// the order they were inserted.
const conformanceTable = "logs_web"

// realDest is the real server behind a proxy that injects failures: in
// FailTransient mode it answers with its transient function instead of
// forwarding; in Unauthorized mode it forwards with unauthorized
// credentials; in TooLarge mode it answers 413 to inserts of more than two
// rows; in RefusePoison and Refuse modes it makes the timestamp of the
// poisoned (or of every) row unparsable, so that the server itself refuses
// those rows, naming them.
type realDest struct {
	t     *testing.T
	srv   *clickhousetest.Server
	db    string
	proxy *forwarder

	mu           sync.Mutex
	mode         sinktest.Mode
	transient    http.HandlerFunc
	unauthorized func(r *http.Request)
}

func newRealDest(t *testing.T, srv *clickhousetest.Server) *realDest {
	d := &realDest{t: t, srv: srv, db: srv.Database(t)}
	srv.MustQuery(t, fmt.Sprintf("CREATE TABLE %s.%s (timestamp DateTime, message String, host String, file String, `nomad.job_name` String) ENGINE = Memory",
		d.db, conformanceTable))
	d.proxy = newForwarder(srv.URL)
	d.unauthorized = func(r *http.Request) {
		r.Header.Set("X-ClickHouse-User", clickhousetest.User)
		r.Header.Set("X-ClickHouse-Key", "wrong")
	}
	return d
}

func (d *realDest) SetMode(m sinktest.Mode) { d.mu.Lock(); d.mode = m; d.mu.Unlock() }

func (d *realDest) Received() []string {
	return d.srv.Lines(d.t, fmt.Sprintf("SELECT message FROM %s.%s", d.db, conformanceTable))
}

func (d *realDest) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	mode := d.mode
	d.mu.Unlock()
	if mode == sinktest.FailTransient {
		d.transient(w, r)
		return
	}
	if r.URL.Query().Get("query") != "" {
		switch mode {
		case sinktest.Unauthorized:
			d.unauthorized(r)
		case sinktest.TooLarge, sinktest.RefusePoison, sinktest.Refuse:
			rows := insertRows(d.t, r)
			if mode == sinktest.TooLarge && len(rows) > 2 {
				answer(http.StatusRequestEntityTooLarge, nil, "<html>413 Request Entity Too Large</html>")(w, r)
				return
			}
			for i, row := range rows {
				if mode == sinktest.Refuse || bytes.Contains(row, []byte(sinktest.Poison)) {
					rows[i] = badTimestamp.ReplaceAll(row, []byte(`"timestamp":"not a time"`))
				}
			}
			setInsertRows(r, rows)
		}
	}
	d.proxy.ServeHTTP(w, r)
}

var badTimestamp = regexp.MustCompile(`"timestamp":"[^"]*"`)

// insertRows returns the JSONEachRow lines of an insert, decompressed.
func insertRows(t *testing.T, r *http.Request) [][]byte {
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		return nil
	}
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err == nil {
			raw, err = io.ReadAll(zr)
		}
		if err != nil {
			t.Errorf("proxy: bad gzip body: %v", err)
		}
	}
	return bytes.SplitAfter(bytes.TrimSuffix(raw, []byte("\n")), []byte("\n"))
}

// setInsertRows makes rows the request's body, uncompressed.
func setInsertRows(r *http.Request, rows [][]byte) {
	body := bytes.Join(rows, nil)
	r.Header.Del("Content-Encoding")
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
}

// forwarder is a proxy for tests: it reads a request, sends it to the
// target and passes the answer back. Unlike httputil.ReverseProxy it keeps
// the answer of a server that replied before it read the whole request
// (as ClickHouse does when it refuses an insert) instead of aborting.
type forwarder struct {
	target string
	client *http.Client
}

func newForwarder(target string) *forwarder {
	// No idle connections to the server outlive a request.
	tr := &http.Transport{DisableKeepAlives: true}
	return &forwarder{target: target, client: &http.Client{Transport: tr}}
}

func (f *forwarder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	out, err := http.NewRequestWithContext(r.Context(), r.Method, f.target+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	out.Header = r.Header.Clone()
	resp, err := f.client.Do(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body) // an early answer may end in a reset
	for k, v := range resp.Header {
		if k != "Content-Length" && k != "Transfer-Encoding" && k != "Connection" {
			w.Header()[k] = v
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(answer)
}

// answer returns a handler that answers like a failing server.
func answer(status int, header map[string]string, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}
}

func TestConformance(t *testing.T) {
	hijackClose := func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}
	unknownUser := func(r *http.Request) {
		r.Header.Set("X-ClickHouse-User", "nobody")
		r.Header.Del("X-ClickHouse-Key")
	}
	variants := []struct {
		name         string
		compression  string
		transient    http.HandlerFunc
		unauthorized func(r *http.Request) // nil: a wrong password
	}{
		{"too-many-parts-18.16-format", CompressionGzip, answer(500, nil,
			"Code: 252, e.displayText() = DB::Exception: Too many parts (300). Merges are processing significantly slower than inserts., e.what() = DB::Exception\n"), nil},
		{"memory-limit-header", CompressionNone, answer(500, map[string]string{ExceptionCodeHeader: "241"},
			"Code: 241. DB::Exception: Memory limit (total) exceeded: would use 9.31 GiB (attempt to allocate chunk of 4360448 bytes), maximum: 9.31 GiB. (MEMORY_LIMIT_EXCEEDED) (version 23.8.1.1 (official build))\n"), nil},
		{"timeout-exceeded", CompressionGzip, answer(500, nil,
			"Code: 159. DB::Exception: Timeout exceeded: elapsed 5.000109 seconds, maximum: 5. (TIMEOUT_EXCEEDED) (version 22.8.5.29 (official build))\n"), nil},
		{"connection-closed", CompressionNone, hijackClose, nil},
		{"proxy-503-unknown-user", CompressionGzip, answer(503, nil, "upstream connect error"), unknownUser},
	}
	for _, v := range variants {
		t.Run("real-server/"+v.name, func(t *testing.T) {
			srv := clickhousetest.Require(t)
			sinktest.Run(t, sinktest.Harness{New: func(t *testing.T, cctx component.Context) (component.Sink, sinktest.Destination) {
				dest := newRealDest(t, srv)
				dest.transient = v.transient
				if v.unauthorized != nil {
					dest.unauthorized = v.unauthorized
				}
				proxy := httptest.NewServer(dest)
				t.Cleanup(proxy.Close)
				cfg := testConfig(proxy.URL, dest.db, "logs_{{ nomad.job_name }}")
				cfg.Compression = v.compression
				cfg.DateTimeBestEffort = true
				cfg.Settings = map[string]string{"input_format_import_nested_json": "1"}
				return build(t, cfg, cctx), dest
			}})
		})
	}
	// A recent server (wire-level fake) with async inserts and
	// deduplication tokens.
	t.Run("recent-server-async-insert", func(t *testing.T) {
		sinktest.Run(t, sinktest.Harness{New: func(t *testing.T, cctx component.Context) (component.Sink, sinktest.Destination) {
			dest, srv := newFakeServer(t, "23.8.1.1", recentSettings)
			cfg := testConfig(srv.URL, "logs", "nomad_{{ nomad.job_name }}")
			cfg.AsyncInsert = true
			return build(t, cfg, cctx), dest
		}})
	})
}
