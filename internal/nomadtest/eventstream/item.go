package eventstream

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Event is one Nomad event: the members the broker filters on, and the
// event's JSON object exactly as captured.
type Event struct {
	Topic      string
	Type       string
	Key        string
	Namespace  string
	FilterKeys []string
	Index      uint64
	// Raw is the event's JSON object.
	Raw json.RawMessage
}

// Item is what Nomad publishes at once: the events of one Raft apply, all at
// one index. A subscription receives each item whose events match it as one
// stream line. Nomad may publish several items with the same index.
type Item struct {
	Index  uint64
	Events []Event
}

// Line renders the events as one stream line, without its terminator, the
// way Nomad does: {"Events":[...],"Index":N}.
func Line(index uint64, events []Event) []byte {
	var b bytes.Buffer
	b.WriteString(`{"Events":[`)
	for i, e := range events {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(e.Raw)
	}
	b.WriteString(`],"Index":`)
	b.WriteString(strconv.FormatUint(index, 10))
	b.WriteByte('}')
	return b.Bytes()
}

// ParseLine parses one stream line. A heartbeat ({}) gives ok=false.
func ParseLine(line []byte) (item Item, ok bool, err error) {
	var frame struct {
		Index  uint64
		Events []json.RawMessage
	}
	if err := json.Unmarshal(line, &frame); err != nil {
		return Item{}, false, fmt.Errorf("parsing stream line: %w", err)
	}
	if len(frame.Events) == 0 {
		return Item{}, false, nil
	}
	item.Index = frame.Index
	for i, raw := range frame.Events {
		var e Event
		if err := json.Unmarshal(raw, &e); err != nil {
			return Item{}, false, fmt.Errorf("parsing event %d at index %d: %w", i, frame.Index, err)
		}
		e.Raw = raw
		item.Events = append(item.Events, e)
	}
	return item, true, nil
}

// LoadCapture reads a capture of GET /v1/event/stream (one line per frame)
// and returns its items in order, without the heartbeats.
func LoadCapture(path string) ([]Item, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading capture: %w", err)
	}
	var items []Item
	for n, line := range bytes.Split(data, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		item, ok, err := ParseLine(line)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n+1, err)
		}
		if ok {
			items = append(items, item)
		}
	}
	return items, nil
}

// TimedLine is one line of a capture with receive times.
type TimedLine struct {
	At   time.Time
	Line []byte
}

// LoadTimedCapture reads a capture in the `<epoch seconds>\t<line>` format.
// A last line without a tab (a note of the capturing tool) is returned as
// note.
func LoadTimedCapture(path string) (lines []TimedLine, note string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, "", fmt.Errorf("reading capture: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		ts, line, ok := strings.Cut(sc.Text(), "\t")
		if !ok {
			note = sc.Text()
			continue
		}
		sec, err := strconv.ParseFloat(ts, 64)
		if err != nil {
			return nil, "", fmt.Errorf("%s: bad time %q: %w", path, ts, err)
		}
		at := time.Unix(0, int64(sec*float64(time.Second))).UTC()
		lines = append(lines, TimedLine{At: at, Line: []byte(line)})
	}
	if err := sc.Err(); err != nil {
		return nil, "", fmt.Errorf("reading %s: %w", path, err)
	}
	return lines, note, nil
}

// Shift returns copies of items whose indexes (of the items and of every
// event) are raised by delta. Payloads are kept, numbers exactly. It makes
// long synthetic histories out of a short capture.
func Shift(items []Item, delta uint64) ([]Item, error) {
	out := make([]Item, 0, len(items))
	for _, it := range items {
		n := Item{Index: it.Index + delta}
		for _, e := range it.Events {
			raw, err := setIndex(e.Raw, e.Index+delta)
			if err != nil {
				return nil, err
			}
			e.Index += delta
			e.Raw = raw
			n.Events = append(n.Events, e)
		}
		out = append(out, n)
	}
	return out, nil
}

func setIndex(raw json.RawMessage, index uint64) (json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("decoding event: %w", err)
	}
	m["Index"] = json.Number(strconv.FormatUint(index, 10))
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return nil, fmt.Errorf("encoding event: %w", err)
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// Identity names one event for comparisons: index, topic, type, namespace
// and key. Nomad replays the same identities (with rebuilt payloads) after
// an agent restart.
func (e Event) Identity() string {
	return fmt.Sprintf("%d/%s/%s/%s/%s", e.Index, e.Topic, e.Type, e.Namespace, e.Key)
}

// Events returns the events of items in order.
func Events(items []Item) []Event {
	var out []Event
	for _, it := range items {
		out = append(out, it.Events...)
	}
	return out
}
