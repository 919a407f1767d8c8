package elasticsearch

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"testing"
)

// FuzzParseBulk reads arbitrary bodies as bulk responses: parseBulk never
// panics, and whenever encoding/json reads the body as a bulk response
// (exact keys, no duplicate keys, one action per item), parseBulk reads
// the same errors flag and, when it is true, the same items.
func FuzzParseBulk(f *testing.F) {
	for _, seed := range []string{es8Success, es8Errors, os2Errors, filtered,
		`{"errors":true,"items":[]}`, `{"errors":null}`, `{"\u0065rrors":true,"items":[{"index":{"status":null,"error":"x"}}]}`,
		`{"errors":true,"items":[{"index":5}]}`, `{"errors":true,"items":[{}]}`, `{"errors":true,"items":null}`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var got []string
		hasErrors, err := parseBulk(body, func(n int, it *bulkItem) {
			if n != len(got) {
				t.Fatalf("item %d visited after %d items", n, len(got))
			}
			got = append(got, fmt.Sprintf("%d %q %q", it.status, decodeString(it.errType), decodeString(it.errReason)))
		})
		want, flag, ok := reference(body)
		if !ok {
			return
		}
		if err != nil {
			t.Fatalf("parseBulk failed on a bulk response encoding/json reads: %v\n%q", err, body)
		}
		if hasErrors != flag {
			t.Fatalf("errors = %v, want %v\n%q", hasErrors, flag, body)
		}
		if !flag {
			if len(got) != 0 {
				t.Fatalf("items visited although errors is false: %q", got)
			}
			return
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("items\n%q\nwant\n%q\nbody %q", got, want, body)
		}
	})
}

// reference reads body with encoding/json the way parseBulk should; ok is
// false when it is not a bulk response parseBulk must agree on.
func reference(body []byte) (items []string, flag, ok bool) {
	if hasDuplicateKeys(body) {
		return nil, false, false
	}
	var top map[string]json.RawMessage
	if json.Unmarshal(body, &top) != nil {
		return nil, false, false
	}
	raw, found := top["errors"]
	if !found || string(raw) == "null" || json.Unmarshal(raw, &flag) != nil {
		return nil, false, false
	}
	var list []map[string]json.RawMessage
	if r, found := top["items"]; found && json.Unmarshal(r, &list) != nil {
		return nil, false, false
	}
	for _, item := range list {
		if len(item) != 1 {
			return nil, false, false
		}
		for _, res := range item {
			var fields map[string]json.RawMessage
			if json.Unmarshal(res, &fields) != nil {
				return nil, false, false
			}
			var status int
			if s, found := fields["status"]; found && json.Unmarshal(s, &status) != nil {
				return nil, false, false
			}
			var errType, reason string
			if e, found := fields["error"]; found {
				var obj map[string]json.RawMessage
				switch {
				case json.Unmarshal(e, &reason) == nil:
				case json.Unmarshal(e, &obj) == nil:
					_ = json.Unmarshal(obj["type"], &errType)
					_ = json.Unmarshal(obj["reason"], &reason)
				}
			}
			items = append(items, fmt.Sprintf("%d %q %q", status, errType, reason))
		}
	}
	return items, flag, true
}

// hasDuplicateKeys reports whether any object in data repeats a key, or
// data is not JSON.
func hasDuplicateKeys(data []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(data))
	type frame struct {
		keys     map[string]bool
		expected bool // an object's next string token is a key
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return false
		}
		if err != nil {
			return true
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{':
				stack = append(stack, &frame{keys: map[string]bool{}, expected: true})
				continue
			case '[':
				stack = append(stack, &frame{})
				continue
			default:
				stack = stack[:len(stack)-1]
			}
		case string:
			if top != nil && top.keys != nil && top.expected {
				if top.keys[v] {
					return true
				}
				top.keys[v] = true
				top.expected = false
				continue
			}
		}
		if len(stack) > 0 && stack[len(stack)-1].keys != nil {
			stack[len(stack)-1].expected = true
		}
	}
}
