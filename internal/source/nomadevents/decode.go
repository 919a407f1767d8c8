package nomadevents

import (
	"errors"
	"fmt"

	"github.com/drover-dev/drover/internal/event"
)

// frame is one decoded line of the event stream: the events Nomad published
// at one Raft index that match the subscription. A heartbeat line ({}) is a
// frame without events and with index 0.
//
// Everything in a frame points into the line it was decoded from; the line
// must stay unchanged while the frame (or events built from it) are in use.
type frame struct {
	index  uint64
	events []rawEvent
}

// heartbeat reports whether the frame is a keep-alive line.
func (f *frame) heartbeat() bool { return f.index == 0 && len(f.events) == 0 }

// rawEvent is one Nomad event of a frame.
type rawEvent struct {
	// raw is the event's JSON object exactly as Nomad sent it.
	raw []byte
	// index is the event's own Index (the frame's when it has none).
	index uint64
	// topic, typ, key and namespace are the decoded strings.
	topic, typ, key, namespace []byte
	// summary holds the flat fields taken from the payload.
	summary  [maxSummary]event.Field
	nSummary int
	// time is the payload's event time in Unix nanoseconds, when it has
	// one (Allocation and Evaluation ModifyTime).
	time    int64
	hasTime bool
}

// summaryFields returns the payload's flat fields.
func (e *rawEvent) summaryFields() []event.Field { return e.summary[:e.nSummary] }

// errNoIndex reports a frame with events but without an index.
var errNoIndex = errors.New("frame has events but no Index")

// decodeFrame decodes one line (without or with its line terminator) into f,
// reusing f's storage. The whole line is validated as JSON; an error leaves
// f unspecified.
func decodeFrame(line []byte, f *frame) error {
	f.index = 0
	f.events = f.events[:0]
	s := scanner{data: line}
	if s.peek() != '{' {
		return s.shape("a frame must be an object")
	}
	if err := s.enter('{'); err != nil {
		return err
	}
	hasIndex := false
	for first := true; ; first = false {
		key, done, err := s.nextMember(first)
		if err != nil {
			return err
		}
		if done {
			break
		}
		switch string(key) {
		case "Events":
			if err := decodeEvents(&s, f); err != nil {
				return err
			}
		case "Index":
			if f.index, err = s.uint(); err != nil {
				return err
			}
			hasIndex = true
		default:
			if err := s.skip(); err != nil {
				return err
			}
		}
	}
	if s.skipSpace(); s.pos != len(s.data) {
		return s.fail("data after the frame object")
	}
	if len(f.events) == 0 {
		return nil
	}
	if !hasIndex {
		return errNoIndex
	}
	for i := range f.events {
		if f.events[i].index == 0 {
			f.events[i].index = f.index
		}
	}
	return nil
}

func decodeEvents(s *scanner, f *frame) error {
	switch s.peek() {
	case 'n':
		return s.literal("null")
	case '[':
	default:
		return s.shape("Events must be an array")
	}
	if err := s.enter('['); err != nil {
		return err
	}
	for first := true; ; first = false {
		done, err := s.nextElement(first)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		if len(f.events) < cap(f.events) {
			f.events = f.events[:len(f.events)+1]
		} else {
			f.events = append(f.events, rawEvent{})
		}
		ev := &f.events[len(f.events)-1]
		if err := decodeEvent(s, ev); err != nil {
			return fmt.Errorf("event %d: %w", len(f.events), err)
		}
	}
}

func decodeEvent(s *scanner, ev *rawEvent) error {
	*ev = rawEvent{}
	if s.peek() != '{' {
		return s.shape("an event must be an object")
	}
	start := s.pos
	if err := s.enter('{'); err != nil {
		return err
	}
	for first := true; ; first = false {
		key, done, err := s.nextMember(first)
		if err != nil {
			return err
		}
		if done {
			break
		}
		switch string(key) {
		case "Topic":
			ev.topic, err = stringValue(s)
		case "Type":
			ev.typ, err = stringValue(s)
		case "Key":
			ev.key, err = stringValue(s)
		case "Namespace":
			ev.namespace, err = stringValue(s)
		case "Index":
			ev.index, err = s.uint()
		case "Payload":
			err = decodePayload(s, ev)
		default:
			err = s.skip()
		}
		if err != nil {
			return err
		}
	}
	ev.raw = s.data[start:s.pos]
	return nil
}

// stringValue consumes a string or null and returns the decoded bytes.
func stringValue(s *scanner) ([]byte, error) {
	switch s.peek() {
	case 'n':
		return nil, s.literal("null")
	case '"':
	default:
		return nil, s.shape("want a string")
	}
	raw, escaped, err := s.str()
	if err != nil || !escaped {
		return raw, err
	}
	return unescape(raw)
}

func decodePayload(s *scanner, ev *rawEvent) error {
	if s.peek() != '{' {
		return s.skip()
	}
	if err := s.enter('{'); err != nil {
		return err
	}
	for first := true; ; first = false {
		key, done, err := s.nextMember(first)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		table := summaryTable(key)
		if table == nil || s.peek() != '{' {
			if err := s.skip(); err != nil {
				return err
			}
			continue
		}
		if err := decodeSummary(s, ev, table); err != nil {
			return err
		}
	}
}

// decodeSummary reads the top-level members of a payload object that table
// names into ev's summary; everything else is validated and skipped.
func decodeSummary(s *scanner, ev *rawEvent, table []summaryKey) error {
	if err := s.enter('{'); err != nil {
		return err
	}
	for first := true; ; first = false {
		key, done, err := s.nextMember(first)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		sk, ok := lookupSummary(table, key)
		if !ok {
			if err := s.skip(); err != nil {
				return err
			}
			continue
		}
		if err := decodeSummaryValue(s, ev, sk); err != nil {
			return err
		}
	}
}

func decodeSummaryValue(s *scanner, ev *rawEvent, sk summaryKey) error {
	c := s.peek()
	switch {
	case sk.kind == summaryString && c == '"':
		b, err := stringValue(s)
		if err != nil {
			return err
		}
		ev.add(sk.field, event.BytesValue(b))
		return nil
	case sk.kind == summaryBool && (c == 't' || c == 'f'):
		word := "false"
		if c == 't' {
			word = "true"
		}
		if err := s.literal(word); err != nil {
			return err
		}
		ev.add(sk.field, event.BoolValue(c == 't'))
		return nil
	case (sk.kind == summaryInt || sk.kind == summaryTime) && (c == '-' || isDigit(c)):
		n, ok, err := s.int()
		if err != nil || !ok {
			return err
		}
		if sk.kind == summaryTime {
			if n > 0 {
				ev.time, ev.hasTime = n, true
			}
			return nil
		}
		ev.add(sk.field, event.IntValue(n))
		return nil
	}
	// null or a type Nomad does not send for this member: leave it out.
	return s.skip()
}

// add sets a summary field; a repeated JSON key replaces the earlier value.
func (e *rawEvent) add(key string, v event.Value) {
	for i := 0; i < e.nSummary; i++ {
		if e.summary[i].Key == key {
			e.summary[i].Value = v
			return
		}
	}
	if e.nSummary < len(e.summary) {
		e.summary[e.nSummary] = event.Field{Key: key, Value: v}
		e.nSummary++
	}
}
