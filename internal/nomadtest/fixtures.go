package nomadtest

import (
	"bufio"
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"net/http"
	"net/textproto"
	"strconv"
)

// The fixtures are real answers of a Nomad v1.6.5 agent (server and client
// on one machine, ACLs off), byte for byte; fixtures/README.md says what
// each is.
//
//go:embed fixtures
var fixtureFS embed.FS

// Names of the embedded fixtures (without .json).
const (
	FixtureAgentSelf                = "agent-self"
	FixtureNode                     = "node-6f986d5f-16ad-4f62-e284-9cb5da6ee2da"
	FixtureNodeAllocations          = "node-allocations"
	FixtureNodeAllocations2         = "node-allocations-2"
	FixtureBlockingNodeAllocTimeout = "blocking-node-allocs-timeout"
	FixtureAllocLogspamRunning      = "allocation-logspam-running"
	FixtureAllocLogspamRestarted    = "allocation-logspam-after-restart"
	FixtureAllocLogspamStopped      = "allocation-logspam-stopped"
	FixtureAllocBatchComplete       = "allocation-batch-complete"
)

// Facts of the captured cluster.
const (
	FixtureNodeID     = "6f986d5f-16ad-4f62-e284-9cb5da6ee2da"
	FixtureNodeName   = "anchor-node"
	FixtureRegion     = "global"
	FixtureDatacenter = "dc1"
	FixtureDataDir    = "/opt/nomad/data"
)

// Fixture returns the body of an embedded fixture by name (without .json).
// It panics when there is no such fixture: the names are constants.
func Fixture(name string) []byte {
	b, err := fixtureFS.ReadFile("fixtures/" + name + ".json")
	if err != nil {
		panic(fmt.Sprintf("nomadtest: no fixture %q: %v", name, err))
	}
	return b
}

// FixtureHeaders returns the response headers recorded with a fixture.
func FixtureHeaders(name string) http.Header {
	b, err := fixtureFS.ReadFile("fixtures/" + name + ".headers.txt")
	if err != nil {
		panic(fmt.Sprintf("nomadtest: no headers for fixture %q: %v", name, err))
	}
	r := textproto.NewReader(bufio.NewReader(bytes.NewReader(b)))
	if _, err := r.ReadLine(); err != nil { // status line
		panic(fmt.Sprintf("nomadtest: headers of %q: %v", name, err))
	}
	h, err := r.ReadMIMEHeader()
	if err != nil && len(h) == 0 {
		panic(fmt.Sprintf("nomadtest: headers of %q: %v", name, err))
	}
	return http.Header(h)
}

// FixtureIndex returns the X-Nomad-Index recorded with a fixture, 0 when
// it has none.
func FixtureIndex(name string) uint64 {
	n, _ := strconv.ParseUint(FixtureHeaders(name).Get("X-Nomad-Index"), 10, 64)
	return n
}

// decodeJSON decodes a fixture into generic values, keeping numbers as
// json.Number so that large integers (nanosecond times) survive.
func decodeJSON(b []byte, out any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	return d.Decode(out)
}

// FixtureAllocations decodes a fixture that is a list of allocations into
// generic JSON objects (numbers as json.Number), ready to be changed and
// served with AddAllocJSON.
func FixtureAllocations(name string) []map[string]any {
	var out []map[string]any
	body := Fixture(name)
	if bytes.HasPrefix(bytes.TrimSpace(body), []byte("{")) {
		var one map[string]any
		if err := decodeJSON(body, &one); err != nil {
			panic(fmt.Sprintf("nomadtest: fixture %q: %v", name, err))
		}
		return []map[string]any{one}
	}
	if err := decodeJSON(body, &out); err != nil {
		panic(fmt.Sprintf("nomadtest: fixture %q: %v", name, err))
	}
	return out
}

// deepCopy copies a generic JSON value.
func deepCopy(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = deepCopy(e)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = deepCopy(e)
		}
		return out
	}
	return v
}

// marshal encodes like Nomad: compact, keys sorted, no HTML escaping.
func marshal(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(fmt.Sprintf("nomadtest: encoding: %v", err))
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}
