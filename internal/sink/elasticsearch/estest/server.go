// Package estest is a fake Elasticsearch or OpenSearch for tests: an HTTP
// server that decodes real _bulk requests (NDJSON, optionally gzip) line by
// line, stores the documents per index, and answers the way the real
// clusters do:
//
//   - 200 with the per-item results, in Elasticsearch 8's shape
//     ({"errors":..,"took":..,"items":[..]}) or OpenSearch 2's
//     ({"took":..,"errors":..,"items":[..]}), honouring filter_path;
//   - an item 409 version_conflict_engine_exception for a create whose
//     _id exists;
//   - in indices whose name matches DataStreams ("logs-*-*"), item 400 for
//     an action other than create and for a document without @timestamp;
//   - item errors chosen by an ItemFault (mapping errors, 429 rejections);
//   - 400 for a body that is not valid bulk NDJSON;
//   - 401 without the configured Authorization header;
//   - 413 for a body above MaxContentLength (after decompression);
//   - whatever a Fault installed with SetFault answers, storing nothing.
//
// GET / answers the cluster information of the flavour.
package estest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path"
	"slices"
	"strings"
	"sync"
	"testing"
)

// Flavor is the product the server imitates.
type Flavor int

const (
	// Elasticsearch8 answers like Elasticsearch 8.
	Elasticsearch8 Flavor = iota
	// OpenSearch2 answers like OpenSearch 2.
	OpenSearch2
)

// String names the flavour.
func (f Flavor) String() string {
	if f == OpenSearch2 {
		return "opensearch2"
	}
	return "elasticsearch8"
}

// Doc is one stored document.
type Doc struct {
	Index string
	ID    string
	// Source is the document as sent; Fields is it decoded.
	Source string
	Fields map[string]any
}

// Item is one action of a bulk request as the server decoded it.
type Item struct {
	Action   string // index, create, update or delete
	Index    string
	ID       string
	Pipeline string
	Source   []byte
	Fields   map[string]any
}

// Bulk is one _bulk request.
type Bulk struct {
	Header          http.Header
	ContentEncoding string
	Query           string
	RawBytes, Bytes int
	Items           []Item
	// Status is the answer's status code.
	Status int
}

// ItemError is an item's failure, as the cluster reports it.
type ItemError struct {
	Status int
	Type   string
	Reason string
}

// Reply is a whole-request answer a Fault chooses.
type Reply struct {
	Status int
	Header http.Header
	Body   string
}

// Fault decides the answer to a decoded bulk request before anything is
// stored; nil lets it through.
type Fault func(b *Bulk) *Reply

// ItemFault decides the failure of one item; nil lets it through.
type ItemFault func(it *Item) *ItemError

// Server is a fake cluster. Its fields configure it before the first
// request.
type Server struct {
	Flavor Flavor
	// DataStreams is the pattern of index names that are data streams.
	DataStreams string
	// MaxContentLength answers 413 above this many decompressed bytes; 0
	// is no limit.
	MaxContentLength int
	// Authorization, when set, is the header value every request needs.
	Authorization string

	t   testing.TB
	srv *httptest.Server

	mu        sync.Mutex
	fault     Fault
	itemFault ItemFault
	docs      []Doc
	ids       map[string]bool // index + "\x00" + id
	nextID    int
	bulks     []Bulk
}

// New returns a server of the flavour that is not started yet; set its
// fields, then call Start. t reports malformed requests as test errors.
func New(t testing.TB, f Flavor) *Server {
	return &Server{t: t, Flavor: f, DataStreams: "logs-*-*", ids: map[string]bool{}}
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

// SetItemFault installs f; nil removes it.
func (s *Server) SetItemFault(f ItemFault) { s.mu.Lock(); s.itemFault = f; s.mu.Unlock() }

// Docs returns the stored documents in the order they were stored.
func (s *Server) Docs() []Doc {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.docs)
}

// Bulks returns every bulk request received, answered or not, in order.
func (s *Server) Bulks() []Bulk {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.bulks)
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.Authorization != "" && r.Header.Get("Authorization") != s.Authorization {
		w.Header().Set("WWW-Authenticate", `Basic realm="security" charset="UTF-8"`)
		writeJSON(w, http.StatusUnauthorized, `{"error":{"root_cause":[{"type":"security_exception","reason":"unable to authenticate user [drover] for REST request [/_bulk]"}],"type":"security_exception","reason":"unable to authenticate user [drover] for REST request [/_bulk]"},"status":401}`)
		return
	}
	switch {
	case r.URL.Path == "/" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		s.info(w)
	case r.URL.Path == "/_bulk" && (r.Method == http.MethodPost || r.Method == http.MethodPut):
		s.bulk(w, r)
	default:
		writeJSON(w, http.StatusNotFound, `{"error":"no handler found for uri [`+r.URL.Path+`] and method [`+r.Method+`]"}`)
	}
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

func (s *Server) info(w http.ResponseWriter) {
	if s.Flavor == OpenSearch2 {
		writeJSON(w, 200, `{"name":"opensearch-node1","cluster_name":"opensearch-cluster","cluster_uuid":"aBcD1234","version":{"distribution":"opensearch","number":"2.15.0","build_type":"tar","build_hash":"61dbcd0795c9bfe9b81e5762175414bc38bbcadf","build_date":"2024-06-20T03:26:49.193630411Z","build_snapshot":false,"lucene_version":"9.10.0","minimum_wire_compatibility_version":"7.10.0","minimum_index_compatibility_version":"7.0.0"},"tagline":"The OpenSearch Project: https://opensearch.org/"}`)
		return
	}
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	writeJSON(w, 200, `{"name":"es01","cluster_name":"docker-cluster","cluster_uuid":"XyZ0987","version":{"number":"8.15.0","build_flavor":"default","build_type":"docker","build_hash":"1a77947f34deddb41af25e6f0ddb8e830159c179","build_date":"2024-08-05T10:05:34.233336849Z","build_snapshot":false,"lucene_version":"9.11.1","minimum_wire_compatibility_version":"7.17.0","minimum_index_compatibility_version":"7.0.0"},"tagline":"You Know, for Search"}`)
}

func (s *Server) bulk(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		return // the client went away
	}
	b := Bulk{Header: r.Header.Clone(), ContentEncoding: r.Header.Get("Content-Encoding"), Query: r.URL.RawQuery, RawBytes: len(raw)}
	status, msg := s.decode(&b, raw)
	if status == 0 && s.MaxContentLength > 0 && b.Bytes > s.MaxContentLength {
		// Elasticsearch closes such requests with a bare 413.
		status = http.StatusRequestEntityTooLarge
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var reply *Reply
	if status == 0 && s.fault != nil {
		reply = s.fault(&b)
	}
	switch {
	case reply != nil:
		b.Status = reply.Status
		s.bulks = append(s.bulks, b)
		for k, v := range reply.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(reply.Status)
		io.WriteString(w, reply.Body)
		return
	case status == http.StatusRequestEntityTooLarge:
		b.Status = status
		s.bulks = append(s.bulks, b)
		w.WriteHeader(status)
		return
	case status != 0:
		b.Status = status
		s.bulks = append(s.bulks, b)
		writeJSON(w, status, fmt.Sprintf(`{"error":{"root_cause":[{"type":"illegal_argument_exception","reason":%q}],"type":"illegal_argument_exception","reason":%q},"status":400}`, msg, msg))
		return
	}
	b.Status = http.StatusOK
	s.bulks = append(s.bulks, b)
	writeJSON(w, http.StatusOK, s.apply(&b, r.URL.Query().Get("filter_path") != ""))
}

// decode parses the NDJSON body into b.Items.
func (s *Server) decode(b *Bulk, raw []byte) (status int, msg string) {
	body := raw
	switch b.ContentEncoding {
	case "":
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err == nil {
			body, err = io.ReadAll(zr)
		}
		if err != nil {
			s.t.Errorf("estest: bad gzip body: %v", err)
			return http.StatusBadRequest, err.Error()
		}
	default:
		s.t.Errorf("estest: unsupported Content-Encoding %q", b.ContentEncoding)
		return http.StatusBadRequest, "unsupported Content-Encoding"
	}
	b.Bytes = len(body)
	switch ct := b.Header.Get("Content-Type"); ct {
	case "application/x-ndjson", "application/json":
	default:
		s.t.Errorf("estest: Content-Type %q", ct)
		return http.StatusNotAcceptable, "Content-Type header [" + ct + "] is not supported"
	}
	if len(body) == 0 || body[len(body)-1] != '\n' {
		s.t.Errorf("estest: body does not end with a newline")
		return http.StatusBadRequest, "The bulk request must be terminated by a newline [\\n]"
	}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, 256<<20)
	for line := 1; sc.Scan(); line++ {
		var action map[string]struct {
			Index    string `json:"_index"`
			ID       string `json:"_id"`
			Pipeline string `json:"pipeline"`
		}
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&action); err != nil || len(action) != 1 {
			s.t.Errorf("estest: line %d is not an action: %q (%v)", line, sc.Bytes(), err)
			return http.StatusBadRequest, fmt.Sprintf("Malformed action/metadata line [%d]", line)
		}
		for name, meta := range action {
			it := Item{Action: name, Index: meta.Index, ID: meta.ID, Pipeline: meta.Pipeline}
			if name != "delete" {
				if !sc.Scan() {
					s.t.Errorf("estest: action on line %d has no document", line)
					return http.StatusBadRequest, "Validation Failed: 1: no requests added;"
				}
				line++
				it.Source = bytes.Clone(sc.Bytes())
				if err := checkObject(it.Source); err != nil {
					s.t.Errorf("estest: document on line %d: %v: %q", line, err, it.Source)
					return http.StatusBadRequest, fmt.Sprintf("failed to parse document on line %d", line)
				}
				_ = json.Unmarshal(it.Source, &it.Fields)
			}
			b.Items = append(b.Items, it)
		}
	}
	if err := sc.Err(); err != nil {
		return http.StatusBadRequest, err.Error()
	}
	if len(b.Items) == 0 {
		return http.StatusBadRequest, "Validation Failed: 1: no requests added;"
	}
	return 0, ""
}

// checkObject checks that src is one JSON object without duplicate keys at
// its top level, which Elasticsearch refuses.
func checkObject(src []byte) error {
	dec := json.NewDecoder(bytes.NewReader(src))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return fmt.Errorf("not a JSON object")
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key := tok.(string)
		if seen[key] {
			return fmt.Errorf("duplicate field %q", key)
		}
		seen[key] = true
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("text after the object")
	}
	return nil
}

// apply stores the items of b and returns the response body.
func (s *Server) apply(b *Bulk, filtered bool) string {
	var items []string
	errs := false
	for i := range b.Items {
		it := &b.Items[i]
		res := s.applyItem(it)
		if res.Status >= 300 {
			errs = true
		}
		items = append(items, s.itemJSON(it, res, filtered))
	}
	list := "[" + strings.Join(items, ",") + "]"
	switch {
	case filtered:
		return fmt.Sprintf(`{"errors":%t,"items":%s}`, errs, list)
	case s.Flavor == OpenSearch2:
		return fmt.Sprintf(`{"took":%d,"errors":%t,"items":%s}`, 3, errs, list)
	}
	return fmt.Sprintf(`{"errors":%t,"took":%d,"ingest_took":0,"items":%s}`, errs, 3, list)
}

func (s *Server) applyItem(it *Item) ItemError {
	stream := s.DataStreams != "" && matches(s.DataStreams, it.Index)
	if s.itemFault != nil {
		if e := s.itemFault(it); e != nil {
			return *e
		}
	}
	switch {
	case it.Index == "" || it.Index != strings.ToLower(it.Index) || strings.ContainsAny(it.Index, `\/*?"<>| ,#:`):
		return ItemError{400, "invalid_index_name_exception", fmt.Sprintf("Invalid index name [%s], must be lowercase", it.Index)}
	case stream && it.Action != "create":
		return ItemError{400, "illegal_argument_exception", "only write ops with an op_type of create are allowed in data streams"}
	case stream && it.Fields["@timestamp"] == nil:
		return ItemError{400, "document_parsing_exception", "[1:2] failed to parse: data stream timestamp field [@timestamp] is missing"}
	case it.Action != "index" && it.Action != "create":
		return ItemError{400, "action_request_validation_exception", "Validation Failed: 1: unsupported action [" + it.Action + "];"}
	}
	if it.ID == "" {
		s.nextID++
		it.ID = fmt.Sprintf("id-%06d", s.nextID)
	}
	key := it.Index + "\x00" + it.ID
	if s.ids[key] {
		if it.Action == "create" {
			return ItemError{409, "version_conflict_engine_exception",
				fmt.Sprintf("[%s]: version conflict, document already exists (current version [1])", it.ID)}
		}
		for i := range s.docs {
			if s.docs[i].Index == it.Index && s.docs[i].ID == it.ID {
				s.docs[i].Source, s.docs[i].Fields = string(it.Source), it.Fields
			}
		}
		return ItemError{Status: 200}
	}
	s.ids[key] = true
	s.docs = append(s.docs, Doc{Index: it.Index, ID: it.ID, Source: string(it.Source), Fields: it.Fields})
	return ItemError{Status: 201}
}

func (s *Server) itemJSON(it *Item, res ItemError, filtered bool) string {
	var inner string
	switch {
	case res.Status >= 300:
		errType, reason := jsonString(res.Type), jsonString(res.Reason)
		if filtered {
			inner = fmt.Sprintf(`{"status":%d,"error":{"type":%s,"reason":%s}}`, res.Status, errType, reason)
		} else {
			inner = fmt.Sprintf(`{"_index":%s,"_id":%s,"status":%d,"error":{"type":%s,"reason":%s,"index_uuid":"aAsFqTI0Tc2W0LCWgPNrOA","index":%s,"caused_by":{"type":"illegal_argument_exception","reason":"see above"}}}`,
				jsonString(it.Index), jsonString(it.ID), res.Status, errType, reason, jsonString(it.Index))
		}
	case filtered:
		inner = fmt.Sprintf(`{"status":%d}`, res.Status)
	default:
		result := "created"
		if res.Status == 200 {
			result = "updated"
		}
		inner = fmt.Sprintf(`{"_index":%s,"_id":%s,"_version":1,"result":%q,"_shards":{"total":2,"successful":1,"failed":0},"_seq_no":0,"_primary_term":1,"status":%d}`,
			jsonString(it.Index), jsonString(it.ID), result, res.Status)
	}
	return fmt.Sprintf(`{%q:%s}`, it.Action, inner)
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func matches(pattern, name string) bool {
	ok, _ := path.Match(pattern, name)
	return ok
}
