package nomadevents

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"unicode/utf8"
)

// FuzzDecodeFrame checks the stream decoder against encoding/json: what it
// accepts is valid JSON whose events encoding/json reads the same way, and
// valid JSON is never reported as a syntax error.
func FuzzDecodeFrame(f *testing.F) {
	// One real line of each topic; small seeds keep the baseline quick.
	seen := map[string]bool{}
	for _, line := range allCaptureLines(f) {
		var fr frame
		if err := decodeFrame(line, &fr); err != nil || len(fr.events) == 0 {
			continue
		}
		if topic := string(fr.events[0].topic); !seen[topic] {
			seen[topic] = true
			f.Add(line)
		}
	}
	for _, s := range []string{
		`{}`, `{"Events":null}`, `event dropped from buffer`,
		`{"Events":[{"Topic":"Job","Type":"JobRegistered","Key":"a\u00e9\"","Namespace":"x","Index":3,` +
			`"Payload":{"Job":{"ID":"a","Version":2,"Stop":true,"Type":null}}}],"Index":3}`,
		`{"Events":[{"Payload":{"Allocation":{"ModifyTime":1795259033753219288,"JobID":"j"}}}],"Index":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		var fr frame
		err := decodeFrame(line, &fr)
		if err != nil {
			var se *SyntaxError
			if errors.As(err, &se) && json.Valid(line) {
				t.Fatalf("valid JSON reported as a syntax error: %v", err)
			}
			return
		}
		if !json.Valid(line) {
			t.Fatalf("accepted invalid JSON %q", line)
		}
		// encoding/json matches struct fields case-insensitively ("EventS"
		// would be Events); the decoder, like Nomad, uses exact keys:
		// compare through exact-key maps. Maps keep the last of duplicate
		// keys, as the decoder does.
		var top map[string]json.RawMessage
		if err := json.Unmarshal(line, &top); err != nil {
			t.Fatalf("encoding/json cannot read an accepted frame: %v", err)
		}
		var ref struct{ Events []json.RawMessage }
		if raw, ok := top["Events"]; ok {
			if err := json.Unmarshal(raw, &ref.Events); err != nil {
				t.Fatalf("encoding/json cannot read the accepted events: %v", err)
			}
		}
		if len(ref.Events) != len(fr.events) {
			t.Fatalf("%d events, encoding/json sees %d", len(fr.events), len(ref.Events))
		}
		for i := range fr.events {
			ev := &fr.events[i]
			if !json.Valid(ev.raw) || !bytes.Equal(bytes.TrimSpace(ev.raw), bytes.TrimSpace(ref.Events[i])) {
				t.Fatalf("event %d raw %q, encoding/json %q", i, ev.raw, ref.Events[i])
			}
			var m map[string]json.RawMessage
			if err := json.Unmarshal(ev.raw, &m); err != nil {
				t.Fatal(err)
			}
			for key, got := range map[string][]byte{"Topic": ev.topic, "Type": ev.typ, "Key": ev.key, "Namespace": ev.namespace} {
				var want *string
				if raw, ok := m[key]; ok {
					if err := json.Unmarshal(raw, &want); err != nil {
						t.Fatalf("%s: %v", key, err)
					}
				}
				if want == nil {
					if got != nil {
						t.Fatalf("%s = %q, encoding/json sees nothing", key, got)
					}
					continue
				}
				if utf8.Valid(got) && string(got) != *want {
					t.Fatalf("%s = %q, encoding/json %q", key, got, *want)
				}
			}
		}
	})
}
