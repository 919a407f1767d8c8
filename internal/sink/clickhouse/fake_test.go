package clickhouse

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/drover-dev/drover/internal/sink/sinktest"
)

// fakeServer speaks the parts of ClickHouse's HTTP interface the sink
// uses, the way a recent server does: the detection query, EXISTS TABLE,
// and INSERT ... FORMAT JSONEachRow with settings in the URL, answering
// unknown settings with UNKNOWN_SETTING (115) and deduplicating inserts by
// insert_deduplication_token like a replicated table. It is the wire-level
// test server for what the Debian package's server (18.16) cannot do.
type fakeServer struct {
	t       *testing.T
	version string
	// settings are the version-dependent settings the server knows.
	settings []string

	mu   sync.Mutex
	mode sinktest.Mode
	// transient answers in FailTransient mode; nil answers TABLE_IS_READ_ONLY.
	transient func(w http.ResponseWriter)
	// before, when set, may answer an insert itself (returning true) after
	// it was decoded, or take over the connection.
	before  func(w http.ResponseWriter, ins *fakeInsert) bool
	inserts []*fakeInsert
	tokens  map[string]bool
	got     []string
	rows    []map[string]any
	queries []string
}

// fakeInsert is one INSERT the server received.
type fakeInsert struct {
	target       string
	params       url.Values
	messages     []string
	rows         []map[string]any
	gzip         bool
	deduplicated bool
	stored       bool
}

// recentSettings are what a 23.8 server knows.
var recentSettings = []string{settingAsyncInsert, settingWaitAsyncInsert, settingAsyncInsertDedup, settingDeduplicationToken}

func newFakeServer(t *testing.T, version string, settings []string) (*fakeServer, *httptest.Server) {
	f := &fakeServer{t: t, version: version, settings: settings, tokens: map[string]bool{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeServer) SetMode(m sinktest.Mode) { f.mu.Lock(); f.mode = m; f.mu.Unlock() }

func (f *fakeServer) Received() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.got)
}

func (f *fakeServer) allInserts() []*fakeInsert {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.inserts)
}

// baseSettings are settings every server version knows.
var baseSettings = []string{"query", "database", "input_format_skip_unknown_fields", "date_time_input_format",
	"input_format_import_nested_json", "insert_quorum", "max_threads"}

var insertRe = regexp.MustCompile("^INSERT INTO (.+) FORMAT JSONEachRow$")

func exception(w http.ResponseWriter, status, code int, name, msg string) {
	w.Header().Set(ExceptionCodeHeader, fmt.Sprint(code))
	w.WriteHeader(status)
	fmt.Fprintf(w, "Code: %d. DB::Exception: %s. (%s) (version 23.8.1.1 (official build))\n", code, msg, name)
}

func (f *fakeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err == nil {
			raw, err = io.ReadAll(zr)
		}
		if err != nil {
			exception(w, 400, 354, "ZLIB_INFLATE_FAILED", err.Error())
			return
		}
	}
	params := r.URL.Query()
	for name := range params {
		if !slices.Contains(baseSettings, name) && !slices.Contains(f.settings, name) {
			exception(w, 404, 115, "UNKNOWN_SETTING", "Unknown setting "+name)
			return
		}
	}
	q := params.Get("query")
	if q == "" {
		f.mu.Lock()
		f.queries = append(f.queries, string(raw))
		f.mu.Unlock()
		f.answerQuery(w, string(raw))
		return
	}
	m := insertRe.FindStringSubmatch(q)
	if m == nil {
		exception(w, 400, 62, "SYNTAX_ERROR", "Syntax error: "+q)
		return
	}
	ins := &fakeInsert{target: m[1], params: params, gzip: r.Header.Get("Content-Encoding") == "gzip"}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var row map[string]any
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			f.t.Errorf("fake ClickHouse: invalid JSONEachRow line %q: %v", sc.Text(), err)
			exception(w, 400, 117, "INCORRECT_DATA", err.Error())
			return
		}
		msg, _ := row["message"].(string)
		ins.messages = append(ins.messages, msg)
		ins.rows = append(ins.rows, row)
	}
	f.mu.Lock()
	f.inserts = append(f.inserts, ins)
	mode, before, transient := f.mode, f.before, f.transient
	f.mu.Unlock()
	if before != nil && before(w, ins) {
		return
	}
	switch mode {
	case sinktest.FailTransient:
		if transient != nil {
			transient(w)
			return
		}
		exception(w, 500, 242, "TABLE_IS_READ_ONLY", "Table is in readonly mode: replica_path=/clickhouse/tables/01/logs")
		return
	case sinktest.Unauthorized:
		exception(w, 516, 516, "AUTHENTICATION_FAILED", "drover: Authentication failed: password is incorrect, or there is no user with such name")
		return
	case sinktest.TooLarge:
		if len(ins.messages) > 2 {
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			return
		}
	case sinktest.RefusePoison, sinktest.Refuse:
		for i, m := range ins.messages {
			if mode == sinktest.Refuse || strings.Contains(m, sinktest.Poison) {
				exception(w, 400, 6, "CANNOT_PARSE_TEXT",
					fmt.Sprintf("Cannot parse input: expected ',' before: 'x': (while reading the value of key message): (at row %d)", i+1))
				return
			}
		}
	}
	f.store(ins)
	w.WriteHeader(200)
}

// store keeps an insert's rows unless its token was seen before.
func (f *fakeServer) store(ins *fakeInsert) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if tok := ins.params.Get(settingDeduplicationToken); tok != "" {
		key := ins.target + "/" + tok
		if f.tokens[key] {
			ins.deduplicated = true
			return
		}
		f.tokens[key] = true
	}
	ins.stored = true
	f.got = append(f.got, ins.messages...)
	f.rows = append(f.rows, ins.rows...)
}

func (f *fakeServer) answerQuery(w http.ResponseWriter, q string) {
	switch {
	case strings.HasPrefix(q, "SELECT version(), arrayStringConcat("):
		fmt.Fprintf(w, "%s\t%s\n", f.version, strings.Join(f.settings, ","))
	case strings.HasPrefix(q, "EXISTS TABLE "):
		io.WriteString(w, "1\n")
	default:
		exception(w, 400, 62, "SYNTAX_ERROR", "unexpected query "+q)
	}
}
