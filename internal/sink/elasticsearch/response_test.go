package elasticsearch

import (
	"fmt"
	"strings"
	"testing"
)

// Bulk responses in the shapes Elasticsearch 8 and OpenSearch 2 send, as
// their documentation shows them: Elasticsearch 8 writes "errors" first,
// OpenSearch (like Elasticsearch 7) writes "took" first; filter_path drops
// everything but what the sink asks for.
const (
	es8Success = `{"errors":false,"took":5,"ingest_took":0,"items":[` +
		`{"create":{"_index":".ds-logs-generic-default-2026.11.21-000001","_id":"8H9hVZMBWl2f3tUQ4JQv","_version":1,"result":"created","_shards":{"total":2,"successful":1,"failed":0},"_seq_no":0,"_primary_term":1,"status":201}}]}`
	es8Errors = `{"errors":true,"took":12,"items":[` +
		`{"index":{"_index":"logs","_id":"1","_version":1,"result":"created","_shards":{"total":2,"successful":1,"failed":0},"_seq_no":3,"_primary_term":1,"status":201}},` +
		`{"index":{"_index":"logs","_id":"2","status":400,"error":{"type":"document_parsing_exception","reason":"[1:15] failed to parse field [status] of type [long] in document with id '2'. Preview of field's value: 'ok'","caused_by":{"type":"illegal_argument_exception","reason":"For input string: \"ok\""}}}},` +
		`{"index":{"_index":"logs","_id":"3","status":429,"error":{"type":"es_rejected_execution_exception","reason":"rejected execution of coordinating operation"}}},` +
		`{"create":{"_index":"logs","_id":"4","status":409,"error":{"type":"version_conflict_engine_exception","reason":"[4]: version conflict, document already exists (current version [1])","index_uuid":"aAsFqTI0Tc2W0LCWgPNrOA","shard":"0","index":"logs"}}}]}`
	os2Errors = `{"took":3,"errors":true,"items":[` +
		`{"index":{"_index":"logs","_id":"x","status":400,"error":{"type":"mapper_parsing_exception","reason":"failed to parse field [status] of type [long] in document with id 'x'. Preview of field's value: 'ok'","caused_by":{"type":"number_format_exception","reason":"For input string: \"ok\""}}}},` +
		`{"index":{"_index":"logs","_id":"y","_version":1,"result":"created","forced_refresh":false,"_shards":{"total":2,"successful":1,"failed":0},"_seq_no":7,"_primary_term":1,"status":201}}]}`
	filtered = `{"errors":true,"items":[{"create":{"status":201}},{"create":{"status":503,"error":{"type":"unavailable_shards_exception","reason":"primary shard is not active"}}}]}`
)

func items(t *testing.T, body string) (bool, []string) {
	t.Helper()
	var got []string
	hasErrors, err := parseBulk([]byte(body), func(n int, it *bulkItem) {
		got = append(got, fmt.Sprintf("%d %s %d %s %q", n, it.action, it.status, decodeString(it.errType), decodeString(it.errReason)))
	})
	if err != nil {
		t.Fatalf("parseBulk(%.60s): %v", body, err)
	}
	return hasErrors, got
}

func TestParseBulk(t *testing.T) {
	if hasErrors, got := items(t, es8Success); hasErrors || got != nil {
		t.Fatalf("success: %v %q", hasErrors, got)
	}
	hasErrors, got := items(t, es8Errors)
	want := []string{
		`0 "index" 201  ""`,
		`1 "index" 400 document_parsing_exception "[1:15] failed to parse field [status] of type [long] in document with id '2'. Preview of field's value: 'ok'"`,
		`2 "index" 429 es_rejected_execution_exception "rejected execution of coordinating operation"`,
		`3 "create" 409 version_conflict_engine_exception "[4]: version conflict, document already exists (current version [1])"`,
	}
	if !hasErrors || strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("es8 errors:\n%s", strings.Join(got, "\n"))
	}
	hasErrors, got = items(t, os2Errors)
	if !hasErrors || len(got) != 2 || !strings.HasPrefix(got[0], `0 "index" 400 mapper_parsing_exception`) || got[1] != `1 "index" 201  ""` {
		t.Fatalf("os2 errors: %q", got)
	}
	hasErrors, got = items(t, filtered)
	if !hasErrors || fmt.Sprint(got) != `[0 "create" 201  "" 1 "create" 503 unavailable_shards_exception "primary shard is not active"]` {
		t.Fatalf("filtered: %q", got)
	}
}

func TestParseBulkStopsAtErrorsFalse(t *testing.T) {
	// Everything after "errors":false is not even looked at.
	if hasErrors, err := parseBulk([]byte(`{"errors":false,"took":1,"items":[{"index":{"status":`), nil); hasErrors || err != nil {
		t.Fatalf("%v %v", hasErrors, err)
	}
	// "errors" after the items (no cluster sends that) still works.
	hasErrors, got := items(t, `{"items":[{"index":{"status":400,"error":"plain string"}}],"errors":true}`)
	if !hasErrors || fmt.Sprint(got) != `[0 "index" 400  "plain string"]` {
		t.Fatalf("%v %q", hasErrors, got)
	}
	if hasErrors, got := items(t, `{"items":[{"index":{"status":400}}],"errors":false}`); hasErrors || got != nil {
		t.Fatalf("%v %q", hasErrors, got)
	}
}

func TestParseBulkRejectsWhatIsNotABulkResponse(t *testing.T) {
	for _, body := range []string{
		``, `{}`, `[]`, `<html></html>`, `{"error":{"type":"x"},"status":400}`,
		`{"errors":"false"}`, `{"errors":true,"items":[{"index":{"status":"201"}}]}`,
		`{"errors":true,"items":[{"index":{"status":201}}`, `{"errors":true,"items":[{"index":{"status":2.5}}]}`,
		`{"errors":true,"items":[{"index":{"status":1e3}}]}`, `{"errors":true "items":[]}`,
	} {
		if _, err := parseBulk([]byte(body), func(int, *bulkItem) {}); err == nil {
			t.Errorf("parseBulk(%q) succeeded", body)
		}
	}
}

func TestReasonOf(t *testing.T) {
	for in, want := range map[string]string{
		`"mapper_parsing_exception"`:         "mapper_parsing_exception",
		`"Illegal-Argument Exception"`:       "illegal_argument_exception",
		`""`:                                 "rejected",
		`"\u00e9t\u00e9"`:                    "_t_",
		`"` + strings.Repeat("a", 100) + `"`: strings.Repeat("a", 64),
	} {
		if got := reasonOf([]byte(in)); got != want {
			t.Errorf("reasonOf(%s) = %q, want %q", in, got, want)
		}
	}
	if got := reasonOf(nil); got != "rejected" {
		t.Errorf("reasonOf(nil) = %q", got)
	}
}

func TestParseBulkDoesNotAllocateOnSuccess(t *testing.T) {
	body := []byte(es8Success)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := parseBulk(body, nil); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per successful response", allocs)
	}
}
