// Package multiline is the `transform "multiline"` component: it joins the
// lines of one multi-line record (a Java, Python, Go, Ruby or .NET stack
// trace; a message continued on indented lines) into one event, per
// stream.
//
// Lines are matched by regular expressions (RE2) on the message:
//
//   - start_pattern: a line that begins a record. A record open when it
//     comes is complete (unless the line also matches continue_pattern).
//   - continue_pattern: a line that continues the open record. With a
//     continue pattern, any other line completes the open record (or ends
//     it, when it matches end_pattern).
//   - end_pattern: a line that ends the open record and belongs to it.
//
// With start_pattern, a line that matches no pattern while no record is
// open is an event of its own, passed on at once. With only
// continue_pattern (Java, Ruby, .NET), every line opens a record that the
// next lines may continue, so a line waits for the next one of its stream,
// or for flush_timeout. Presets name patterns for common stack traces.
//
// A record also completes when it reaches max_lines or max_bytes (its next
// line then starts a new one), when its stream is quiet for flush_timeout,
// and when drover stops or a reload replaces the transform.
//
// The joined event has the first line's time, fields and metadata, and the
// lines joined by "\n". It carries the acknowledgements of every batch its
// lines came in (event.JoinAcks): a batch whose last lines are held in an
// unfinished record stays unacknowledged until that record is delivered,
// so a stop or a crash in the middle of a record neither loses it nor
// ships it in halves: after a restart it is read again whole.
//
// With hints on (the default), a Nomad task whose meta sets
// drover.multiline to a preset name ("none" for no joining) has its lines
// joined that way, whatever the block says.
package multiline

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"sort"
	"sync"
	"time"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/config"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/transform"
)

// Type is the component type name.
const Type = "multiline"

func init() { component.RegisterTransform(Type, NewConfig, nil, component.Infallible(New)) }

// Presets are the built-in pattern sets, by name.
var Presets = map[string]Patterns{
	// Java: "Exception in thread ..." then "\tat ...", "Caused by: ...",
	// "\t... 12 more".
	"java": {Continue: `^(\s+at\s|\s+\.\.\.\s\d+\s(more|common frames omitted)|Caused by:\s|\s*Suppressed:\s)`},
	// Python: "Traceback (most recent call last):", indented frames, and
	// the exception line that ends it.
	"python": {Start: `^Traceback \(most recent call last\):$`, Continue: `^(\s|$)`, End: `^\S`},
	// Go: "panic: ..." or "fatal error: ..." then goroutine headers,
	// function lines, indented file lines and blank lines.
	"go": {Start: `^(panic: |fatal error: )`, Continue: `^(\s|$|goroutine \d+ \[|\[signal |created by |[\w./*()\-]+\(.*\)$|exit status \d+$)`},
	// Ruby: the error line, then "\tfrom file:line:in ...".
	"ruby": {Continue: `^\s+from\s`},
	// .NET: the exception line, then "   at ...", " ---> Inner: ...",
	// "--- End of inner exception stack trace ---".
	"dotnet": {Continue: `^(\s+at\s|\s*--- End of |\s*---> )`},
}

// PresetNames lists the presets, sorted.
func PresetNames() []string {
	names := make([]string, 0, len(Presets))
	for n := range Presets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Patterns are the regular expressions of a record's lines.
type Patterns struct {
	Start    string `hcl:"start_pattern"`
	Continue string `hcl:"continue_pattern"`
	End      string `hcl:"end_pattern"`
}

// Config is the configuration of a `transform "multiline"` block.
type Config struct {
	// Preset names built-in patterns; the patterns may be given instead.
	Preset string `hcl:"preset"`
	Patterns
	// FlushTimeout completes a record whose stream was quiet that long.
	FlushTimeout time.Duration `hcl:"flush_timeout"`
	// MaxLines and MaxBytes bound a record.
	MaxLines int             `hcl:"max_lines"`
	MaxBytes config.ByteSize `hcl:"max_bytes"`
	// Hints applies the drover.multiline hint of a task's meta.
	Hints bool `hcl:"hints"`

	rules *rules
}

// Defaults.
const (
	DefaultFlushTimeout = time.Second
	DefaultMaxLines     = 500
	DefaultMaxBytes     = config.ByteSize(1 << 20)
)

// NewConfig returns the defaults.
func NewConfig() *Config {
	return &Config{FlushTimeout: DefaultFlushTimeout, MaxLines: DefaultMaxLines, MaxBytes: DefaultMaxBytes, Hints: true}
}

// Validate checks the options and compiles the patterns.
func (c *Config) Validate() error {
	if c.FlushTimeout <= 0 {
		return config.Errorf("flush_timeout", "must be greater than zero")
	}
	if c.MaxLines < 2 {
		return config.Errorf("max_lines", "must be at least 2")
	}
	if c.MaxBytes < 64 {
		return config.Errorf("max_bytes", "must be at least 64 bytes")
	}
	own := c.Patterns != (Patterns{})
	switch {
	case c.Preset != "" && own:
		return config.Errorf("preset", "give a preset or patterns, not both")
	case c.Preset != "":
		p, ok := Presets[c.Preset]
		if !ok {
			return config.Errorf("preset", "unknown preset %q; known: %v", c.Preset, PresetNames())
		}
		c.rules = mustRules(p)
	case own:
		if c.Start == "" && c.Continue == "" && c.End == "" {
			return config.Errorf("start_pattern", "at least one pattern is needed")
		}
		r, field, err := compile(c.Patterns)
		if err != nil {
			return config.Errorf(field, "%v", err)
		}
		c.rules = r
	case !c.Hints:
		return config.Errorf("preset", "a preset or patterns are needed when hints are off")
	}
	return nil
}

// rules are compiled patterns.
type rules struct {
	start, cont, end *regexp.Regexp
}

func compile(p Patterns) (*rules, string, error) {
	r := &rules{}
	for _, x := range []struct {
		field, src string
		dst        **regexp.Regexp
	}{{"start_pattern", p.Start, &r.start}, {"continue_pattern", p.Continue, &r.cont}, {"end_pattern", p.End, &r.end}} {
		if x.src == "" {
			continue
		}
		re, err := regexp.Compile(x.src)
		if err != nil {
			return nil, x.field, err
		}
		*x.dst = re
	}
	return r, "", nil
}

func mustRules(p Patterns) *rules {
	r, _, err := compile(p)
	if err != nil {
		panic(fmt.Sprintf("multiline: preset: %v", err))
	}
	return r
}

var presetRules = func() map[string]*rules {
	m := map[string]*rules{}
	for n, p := range Presets {
		m[n] = mustRules(p)
	}
	return m
}()

// record is an open multi-line record of one stream.
type record struct {
	first event.Event
	buf   []byte
	lines int
	flags event.Flags
	// acks holds one hold on each batch a line of the record came in.
	acks []*event.Ack
	last time.Time
}

// Joiner is the multiline transform.
type Joiner struct {
	cfg      *Config
	discards *transform.Discards
	log      *slog.Logger
	now      func() time.Time

	// mu guards open and is held while emitting, so that the events of a
	// stream leave in order whether a batch or the timer completes them.
	mu      sync.Mutex
	open    map[*event.Meta]*record
	badHint map[string]bool
}

// New returns a multiline transform for a validated config.
func New(ctx component.Context, cfg *Config) *Joiner {
	log := ctx.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Joiner{cfg: cfg, discards: transform.NewDiscards(ctx), log: log, now: time.Now,
		open: map[*event.Meta]*record{}, badHint: map[string]bool{}}
}

// rulesFor returns the rules of a stream, nil to pass its lines on.
func (j *Joiner) rulesFor(m *event.Meta) *rules {
	if j.cfg.Hints {
		switch h := transform.Hint(m, transform.HintMultiline); h {
		case "":
		case "none":
			return nil
		default:
			if r, ok := presetRules[h]; ok {
				return r
			}
			if !j.badHint[h] {
				j.badHint[h] = true
				j.discards.Metrics().Errors("hint").Inc()
				j.log.Warn("unknown drover.multiline hint; using the configured patterns", "hint", h, "known", PresetNames())
			}
		}
	}
	return j.cfg.rules
}

// output collects the events completed in one call and the holds on
// acknowledgements they carry.
type output struct {
	evs  []event.Event
	acks []*event.Ack
}

func (o *output) complete(r *record) {
	e := r.first
	e.Message = r.buf
	e.Flags = r.flags
	o.evs = append(o.evs, e)
	o.acks = append(o.acks, r.acks...)
}

// Process implements component.Transform.
func (j *Joiner) Process(ctx context.Context, b *event.Batch, out component.Emitter) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	o := output{evs: make([]event.Event, 0, len(b.Events))}
	now := j.now()
	var (
		lastMeta  *event.Meta
		lastRules *rules
	)
	passed := false
	for i := range b.Events {
		e := &b.Events[i]
		if e.Meta != lastMeta || i == 0 {
			lastMeta, lastRules = e.Meta, j.rulesFor(e.Meta)
		}
		r := lastRules
		if r == nil {
			o.evs = append(o.evs, *e)
			passed = true
			continue
		}
		if j.line(r, e, b.Ack, now, &o) {
			passed = true
		}
	}
	if passed {
		// Events passed on as they are, or made of this batch's lines
		// alone, travel under the batch's own acknowledgement.
		b.Ack.Retain(1)
		o.acks = append(o.acks, b.Ack)
	}
	return j.emit(ctx, out, &o)
}

// line takes one line of a stream with rules r. It reports whether it
// passed the line on alone (no record holds it).
func (j *Joiner) line(r *rules, e *event.Event, ack *event.Ack, now time.Time, o *output) bool {
	rec := j.open[e.Meta]
	msg := e.Message
	if rec != nil {
		switch {
		case r.start != nil && r.start.Match(msg) && (r.cont == nil || !r.cont.Match(msg)):
			j.finish(e.Meta, rec, o)
			rec = nil
		case r.cont != nil:
			switch {
			case r.cont.Match(msg):
				j.add(e.Meta, rec, e, ack, now, o)
				return false
			case r.end != nil && r.end.Match(msg):
				j.add(e.Meta, rec, e, ack, now, o)
				if j.open[e.Meta] == rec {
					j.finish(e.Meta, rec, o)
				}
				return false
			}
			j.finish(e.Meta, rec, o)
			rec = nil
		default:
			j.add(e.Meta, rec, e, ack, now, o)
			if r.end != nil && r.end.Match(msg) && j.open[e.Meta] == rec {
				j.finish(e.Meta, rec, o)
			}
			return false
		}
	}
	// No record is open for this stream.
	if r.start != nil && !r.start.Match(msg) {
		o.evs = append(o.evs, *e)
		return true
	}
	if r.start == nil && r.cont == nil && r.end != nil && r.end.Match(msg) {
		o.evs = append(o.evs, *e)
		return true
	}
	rec = &record{first: *e, buf: append([]byte(nil), msg...), lines: 1, flags: e.Flags, last: now}
	ack.Retain(1)
	rec.acks = append(rec.acks, ack)
	j.open[e.Meta] = rec
	return false
}

// add appends a line to an open record, completing the record when it is
// full.
func (j *Joiner) add(m *event.Meta, rec *record, e *event.Event, ack *event.Ack, now time.Time, o *output) {
	if room := int(j.cfg.MaxBytes) - len(rec.buf) - 1; room < len(e.Message) {
		rec.buf = append(rec.buf, '\n')
		rec.buf = append(rec.buf, e.Message[:max(room, 0)]...)
		rec.flags |= event.Truncated
	} else {
		rec.buf = append(rec.buf, '\n')
		rec.buf = append(rec.buf, e.Message...)
	}
	rec.lines++
	rec.flags |= e.Flags
	rec.last = now
	if rec.acks[len(rec.acks)-1] != ack {
		ack.Retain(1)
		rec.acks = append(rec.acks, ack)
	}
	if rec.lines >= j.cfg.MaxLines || len(rec.buf) >= int(j.cfg.MaxBytes) {
		j.finish(m, rec, o)
	}
}

func (j *Joiner) finish(m *event.Meta, rec *record, o *output) {
	delete(j.open, m)
	o.complete(rec)
}

// emit passes on the events of o under an Ack that holds every batch they
// came from, then lets go of o's holds.
func (j *Joiner) emit(ctx context.Context, out component.Emitter, o *output) error {
	if len(o.evs) == 0 {
		for _, a := range o.acks {
			a.Release(event.Delivered)
		}
		return nil
	}
	ack := o.acks[0]
	same := true
	for _, a := range o.acks[1:] {
		same = same && a == ack
	}
	if same {
		// One batch: its own Ack, held once more per hold collected.
		err := out.Emit(ctx, &event.Batch{Events: o.evs, Ack: ack})
		for _, a := range o.acks {
			a.Release(event.Delivered)
		}
		return err
	}
	joined := event.JoinAcks(o.acks)
	err := out.Emit(ctx, &event.Batch{Events: o.evs, Ack: joined})
	joined.Release(event.Delivered)
	return err
}

// Run implements component.Flusher: it completes the records of streams
// quiet for flush_timeout.
func (j *Joiner) Run(ctx context.Context, out component.Emitter) {
	tick := min(max(j.cfg.FlushTimeout/4, 10*time.Millisecond), time.Second)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		j.mu.Lock()
		var o output
		now := j.now()
		for m, rec := range j.open {
			if now.Sub(rec.last) >= j.cfg.FlushTimeout {
				j.finish(m, rec, &o)
			}
		}
		if err := j.emit(ctx, out, &o); err != nil && ctx.Err() == nil {
			j.discards.Metrics().Errors("flush").Inc()
		}
		j.mu.Unlock()
	}
}

// Flush implements component.Flusher: it completes every open record and
// emits it, or, when ctx ended, releases the batches it holds as Failed so
// that they are read again after a restart.
func (j *Joiner) Flush(ctx context.Context, out component.Emitter) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	var o output
	for m, rec := range j.open {
		j.finish(m, rec, &o)
	}
	if err := ctx.Err(); err != nil {
		for _, a := range o.acks {
			a.Release(event.Failed)
		}
		return err
	}
	return j.emit(ctx, out, &o)
}

// Open reports the number of records being joined, for tests.
func (j *Joiner) Open() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.open)
}
