// Package parse is the `transform "parse"` component: it parses each
// event's message (or another field) as JSON, logfmt, a regular expression
// with named groups, a container runtime's log line (CRI, Docker
// json-file) or syslog (RFC 3164 and 5424), and makes what it found the
// event's fields.
//
// JSON and logfmt fields, and regex groups, go to the top level of the
// event's fields or under target; the message stays as it was unless
// drop_original makes message_field the new message. CRI, Docker and
// syslog lines are envelopes: their content becomes the message, their
// time the event's timestamp, and their other parts fields (stream;
// facility, severity, hostname, appname, procid, msgid, structured_data).
//
// A line that does not parse is kept as it is, with the error in
// error_field, and counted in component_errors_total{stage="parse"}; with
// on_failure = "drop" it is dropped and counted as discarded with reason
// "parse_failed".
//
// With hints on (the default), a Nomad task whose job, group or task meta
// sets drover.parser ("json", "logfmt", "syslog", "cri", "docker" or
// "none") has its lines parsed that way, whatever format says; format may
// then be left out, and lines of tasks without the hint pass unchanged.
//
// Parsing allocates per batch, not per event: fields come from a
// FieldArena and strings point into the message.
package parse

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/config"
	"github.com/drover-dev/drover/internal/containerlog"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/jsondec"
	"github.com/drover-dev/drover/internal/transform"
)

// Type is the component type name.
const Type = "parse"

func init() { component.RegisterTransform(Type, NewConfig, nil, component.Infallible(New)) }

// Formats are the values of format (and of the drover.parser hint, which
// also takes "none"; a regex cannot be hinted).
var Formats = []string{"json", "logfmt", "regex", "cri", "docker", "syslog"}

// Config is the configuration of a `transform "parse"` block.
type Config struct {
	// Format is how to parse; may be "" when hints are on.
	Format string `hcl:"format" enum:",json,logfmt,regex,cri,docker,syslog"`
	// Pattern is the regular expression (RE2) of format "regex"; its named
	// groups become fields.
	Pattern string `hcl:"pattern"`
	// Field is the path of the field to parse; default "message".
	Field string `hcl:"field"`
	// Target, when set, is the key under which the parsed fields go as one
	// object; by default they go to the top level.
	Target string `hcl:"target"`
	// DropOriginal replaces the message with the parsed field
	// MessageField (json, logfmt, regex), which is then not kept as a
	// field; the message becomes empty when the line has no such field.
	DropOriginal bool   `hcl:"drop_original"`
	MessageField string `hcl:"message_field"`
	// TimestampField names a parsed field holding the event's time, in
	// TimestampFormat: "rfc3339" (default), "unix", "unix_ms", "unix_us",
	// "unix_ns" or a Go time layout ("2006-01-02 15:04:05.000").
	TimestampField  string `hcl:"timestamp_field"`
	TimestampFormat string `hcl:"timestamp_format"`
	// OnFailure is what happens to a line that does not parse: "keep"
	// (default) or "drop".
	OnFailure string `hcl:"on_failure" enum:"keep,drop"`
	// ErrorField is the field that holds the parse error of a kept line;
	// "" adds none. Default "parse_error".
	ErrorField string `hcl:"error_field"`
	// Hints applies the drover.parser hint of a task's meta. Default true.
	Hints bool `hcl:"hints"`

	re *regexp.Regexp
}

// NewConfig returns the defaults.
func NewConfig() *Config {
	return &Config{Field: "message", MessageField: "message", TimestampFormat: "rfc3339",
		OnFailure: "keep", ErrorField: "parse_error", Hints: true}
}

// Validate checks the options.
func (c *Config) Validate() error {
	switch {
	case c.Format == "" && !c.Hints:
		return config.Errorf("format", "is required when hints are off")
	case c.Format == "regex" && c.Pattern == "":
		return config.Errorf("pattern", `is required with format = "regex"`)
	case c.Format != "regex" && c.Pattern != "":
		return config.Errorf("pattern", `applies to format = "regex" only`)
	case c.Field == "":
		return config.Errorf("field", "must not be empty")
	case c.DropOriginal && c.MessageField == "":
		return config.Errorf("message_field", "must not be empty with drop_original")
	}
	if c.Pattern != "" {
		re, err := regexp.Compile(c.Pattern)
		if err != nil {
			return config.Errorf("pattern", "%v", err)
		}
		if len(re.SubexpNames()) < 2 || !hasNamedGroup(re) {
			return config.Errorf("pattern", "has no named group ((?P<name>...)): nothing would become a field")
		}
		c.re = re
	}
	if _, err := timeParser(c.TimestampFormat); err != nil {
		return config.Errorf("timestamp_format", "%v", err)
	}
	return nil
}

func hasNamedGroup(re *regexp.Regexp) bool {
	for _, n := range re.SubexpNames()[1:] {
		if n != "" {
			return true
		}
	}
	return false
}

// Parser is the parse transform.
type Parser struct {
	cfg       *Config
	format    string
	field     []string
	parseTime func(v event.Value) (time.Time, error)
	discards  *transform.Discards
	log       *slog.Logger
	scratch   sync.Pool
	badHint   sync.Map // hint values already reported
}

// New returns a parse transform for a validated config.
func New(ctx component.Context, cfg *Config) *Parser {
	tp, _ := timeParser(cfg.TimestampFormat)
	p := &Parser{cfg: cfg, format: cfg.Format, field: strings.Split(cfg.Field, "."), parseTime: tp,
		discards: transform.NewDiscards(ctx), log: ctx.Logger}
	if p.log == nil {
		p.log = slog.Default()
	}
	p.scratch.New = func() any { return &scratch{} }
	return p
}

// scratch is the memory of one Process call at a time; what it hands out
// stays valid after it returns to the pool (its arenas only append).
type scratch struct {
	arena  event.FieldArena
	json   jsondec.Decoder
	docker containerlog.DockerDecoder
	strs   []byte
}

// Process implements component.Transform.
func (p *Parser) Process(ctx context.Context, b *event.Batch, out component.Emitter) error {
	s := p.scratch.Get().(*scratch)
	defer p.scratch.Put(s)
	evs := make([]event.Event, 0, len(b.Events))
	var (
		lastMeta   *event.Meta
		lastFormat string
		failed     int
		dropped    int
	)
	for i := range b.Events {
		evs = append(evs, b.Events[i])
		e := &evs[len(evs)-1]
		format := p.format
		if p.cfg.Hints {
			if e.Meta != lastMeta {
				lastMeta, lastFormat = e.Meta, p.hinted(e.Meta)
			}
			format = lastFormat
		}
		if format == "" || format == "none" {
			continue
		}
		if err := p.parse(s, e, format); err != nil {
			failed++
			if p.cfg.OnFailure == "drop" {
				dropped++
				evs = evs[:len(evs)-1]
				continue
			}
			*e = b.Events[i]
			if p.cfg.ErrorField != "" {
				e.Fields = e.Fields.With(event.Field{Key: p.cfg.ErrorField, Value: event.StringValue(err.Error())})
			}
		}
	}
	if failed > 0 {
		p.discards.Metrics().Errors("parse").Add(float64(failed))
	}
	p.discards.Add("parse_failed", dropped, "format", p.format)
	return transform.EmitKept(ctx, out, b, evs)
}

// hinted returns the format for a stream: its drover.parser hint when it
// names a format, else the configured one.
func (p *Parser) hinted(m *event.Meta) string {
	h := transform.Hint(m, transform.HintParser)
	switch h {
	case "":
		return p.format
	case "none", "json", "logfmt", "syslog", "cri", "docker":
		return h
	}
	if _, seen := p.badHint.LoadOrStore(h, true); !seen {
		p.discards.Metrics().Errors("hint").Inc()
		p.log.Warn("unknown drover.parser hint; using the configured format",
			"hint", h, "known", "json, logfmt, syslog, cri, docker, none")
	}
	return p.format
}

// parse parses e in place.
func (p *Parser) parse(s *scratch, e *event.Event, format string) error {
	var in []byte
	if len(p.field) == 1 && p.field[0] == "message" {
		in = e.Message
	} else {
		v, ok := e.GetPath(p.field)
		if !ok || (v.Kind() != event.KindString && v.Kind() != event.KindBytes) {
			return fmt.Errorf("no string field %q", p.cfg.Field)
		}
		str := v.Str()
		in = []byte(str)
	}
	if format == "json" && (p.cfg.Target != "" || e.Fields.Len() == 0) {
		// The common case: the decoder's fields are the event's, as they
		// are; with drop_original, the decoder sets the message field
		// aside.
		var (
			f   *event.Fields
			err error
		)
		if p.cfg.DropOriginal {
			var msg event.Value
			var found bool
			f, msg, found, err = s.json.ObjectTaking(in, p.cfg.MessageField)
			if err != nil {
				return err
			}
			e.Message = messageOf(msg, found)
		} else if f, err = s.json.Object(in); err != nil {
			return err
		}
		tsErr := p.applyTimestamp(e, f.All())
		if p.cfg.Target != "" {
			f = e.Fields.With(event.Field{Key: p.cfg.Target, Value: event.ObjectValue(f)})
		}
		e.Fields = f
		p.timestampError(e, tsErr)
		return nil
	}
	mark := s.arena.Mark()
	parsedMark := mark
	envelope := false
	switch format {
	case "json":
		f, err := s.json.Object(in)
		if err != nil {
			s.arena.Abort(mark)
			return err
		}
		for _, fl := range f.All() {
			s.arena.Set(parsedMark, fl.Key, fl.Value)
		}
	case "logfmt":
		if err := parseLogfmt(&s.arena, parsedMark, in, &s.strs); err != nil {
			s.arena.Abort(mark)
			return err
		}
	case "regex":
		m := p.cfg.re.FindSubmatchIndex(in)
		if m == nil {
			s.arena.Abort(mark)
			return fmt.Errorf("the line does not match the pattern")
		}
		for gi, name := range p.cfg.re.SubexpNames() {
			if gi == 0 || name == "" || m[2*gi] < 0 {
				continue
			}
			s.arena.Set(parsedMark, name, event.BytesValue(in[m[2*gi]:m[2*gi+1]]))
		}
	case "cri", "docker":
		var l containerlog.Line
		var err error
		if format == "cri" {
			l, err = containerlog.ParseCRI(in)
		} else {
			l, err = s.docker.Parse(in)
		}
		if err != nil {
			s.arena.Abort(mark)
			return err
		}
		if l.Stream != "" {
			s.arena.Set(parsedMark, "stream", event.StringValue(l.Stream))
		}
		e.Message = l.Message
		if !l.Time.IsZero() {
			e.Timestamp = l.Time
		}
		if l.Partial {
			e.Flags |= event.Partial
		}
		envelope = true
	case "syslog":
		res, err := parseSyslog(&s.arena, parsedMark, in, e.Timestamp)
		if err != nil {
			s.arena.Abort(mark)
			return err
		}
		e.Message = res.msg
		if !res.time.IsZero() {
			e.Timestamp = res.time
		}
		envelope = true
	}
	if !envelope && p.cfg.DropOriginal {
		e.Message = nil
		for i, f := range s.arena.Pending(parsedMark) {
			if f.Key == p.cfg.MessageField {
				e.Message = messageOf(f.Value, true)
				s.arena.Remove(parsedMark, i)
				break
			}
		}
	}
	tsErr := p.applyTimestamp(e, s.arena.Pending(parsedMark))
	if p.cfg.Target != "" {
		parsed := s.arena.Finish(parsedMark)
		e.Fields = e.Fields.With(event.Field{Key: p.cfg.Target, Value: event.ObjectValue(parsed)})
	} else {
		// Fields the event already had stay, unless a parsed one has
		// their key.
		for _, f := range e.Fields.All() {
			if !hasKey(s.arena.Pending(mark), f.Key) {
				s.arena.Push(f)
			}
		}
		e.Fields = s.arena.Finish(mark)
	}
	p.timestampError(e, tsErr)
	return nil
}

// messageOf returns the message made of a parsed field's value: a string
// as it is, without copying (it points into the line or the decoder's
// memory, neither of which changes again; its capacity ends with it, so
// that an append copies), anything else as text; nil when not found.
func messageOf(v event.Value, found bool) []byte {
	switch {
	case !found:
		return nil
	case v.Kind() == event.KindString || v.Kind() == event.KindBytes:
		s := v.Str()
		return unsafe.Slice(unsafe.StringData(s), len(s))[:len(s):len(s)]
	}
	return v.AppendText(nil)
}

// applyTimestamp sets e's timestamp from the parsed timestamp field.
func (p *Parser) applyTimestamp(e *event.Event, parsed []event.Field) error {
	if p.cfg.TimestampField == "" {
		return nil
	}
	for _, f := range parsed {
		if f.Key == p.cfg.TimestampField {
			t, err := p.parseTime(f.Value)
			if err != nil {
				return fmt.Errorf("timestamp field %q: %w", p.cfg.TimestampField, err)
			}
			e.Timestamp = t
			return nil
		}
	}
	return nil
}

// timestampError counts a timestamp that did not parse and notes it in
// the error field; the event keeps the time it had.
func (p *Parser) timestampError(e *event.Event, err error) {
	if err == nil {
		return
	}
	p.discards.Metrics().Errors("timestamp").Inc()
	if p.cfg.ErrorField != "" {
		e.Fields = e.Fields.With(event.Field{Key: p.cfg.ErrorField, Value: event.StringValue(err.Error())})
	}
}

func hasKey(fs []event.Field, key string) bool {
	for i := range fs {
		if fs[i].Key == key {
			return true
		}
	}
	return false
}

// timeParser returns the parser of a timestamp_format.
func timeParser(format string) (func(v event.Value) (time.Time, error), error) {
	unit := map[string]time.Duration{"unix": time.Second, "unix_ms": time.Millisecond, "unix_us": time.Microsecond, "unix_ns": time.Nanosecond}
	switch {
	case format == "rfc3339" || format == "":
		return func(v event.Value) (time.Time, error) {
			if v.Kind() == event.KindTime {
				return v.Time(), nil
			}
			return time.Parse(time.RFC3339Nano, v.Str())
		}, nil
	case unit[format] != 0:
		u := unit[format]
		return func(v event.Value) (time.Time, error) {
			var f float64
			switch v.Kind() {
			case event.KindInt:
				return time.Unix(0, 0).Add(time.Duration(v.Int()) * u).UTC(), nil
			case event.KindFloat:
				f = v.Float()
			default:
				var err error
				if f, err = strconv.ParseFloat(v.Str(), 64); err != nil {
					return time.Time{}, fmt.Errorf("%q is not a number", v.Str())
				}
			}
			return time.Unix(0, int64(f*float64(u))).UTC(), nil
		}, nil
	case strings.Contains(format, "2006") || strings.Contains(format, "15:04") || strings.Contains(format, "Jan"):
		return func(v event.Value) (time.Time, error) { return time.Parse(format, v.Str()) }, nil
	}
	return nil, fmt.Errorf(`%q is not "rfc3339", "unix", "unix_ms", "unix_us", "unix_ns" or a Go time layout (such as "2006-01-02 15:04:05")`, format)
}
