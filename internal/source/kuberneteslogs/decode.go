package kuberneteslogs

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/containerlog"
	"github.com/drover-dev/drover/internal/event"
)

// The per-event fields of a container's lines: the stream. Both streams of
// a container are written to one file, so the stream is the event's, not
// the metadata's; the two values are shared by every event.
var (
	stdoutFields = event.NewFields(event.Field{Key: "stream", Value: event.StringValue("stdout")})
	stderrFields = event.NewFields(event.Field{Key: "stream", Value: event.StringValue("stderr")})
)

// decoder sits between the follower and the source's output: it decodes
// the runtime's records (CRI lines, or docker json-file lines, told apart
// by their first byte), keeps the runtime's time and the stream, and
// rejoins the pieces of split lines per container stream, bounded by
// max_merged_line_bytes.
//
// Acknowledgements stay exact: each batch goes on as a new batch whose Ack
// holds the follower's (event.JoinAcks); a batch whose last pieces wait
// for the rest of their line stays held by the line that completes them,
// so its position does not move before that line is delivered. Pieces
// that wait longer than partial_line_timeout go out flagged partial; when
// Run ends, what waits is released as failed: it is read again.
type decoder struct {
	out      component.Emitter
	maxBytes int
	timeout  time.Duration
	sm       *sourceMetrics
	log      *slog.Logger

	mu        sync.Mutex // one Emit at a time, also against flushStale
	docker    containerlog.DockerDecoder
	streams   map[streamKey]*pending
	lastError time.Time
}

type streamKey struct {
	meta   *event.Meta
	stream string
}

// pending is a stream whose split line waits for its next piece.
type pending struct {
	j     containerlog.Joiner
	acks  []*event.Ack // the batches that gave pieces, each retained once
	first time.Time    // when the first piece came
	meta  *event.Meta
	fs    *event.Fields
}

func newDecoder(out component.Emitter, maxBytes int, timeout time.Duration, sm *sourceMetrics, log *slog.Logger) *decoder {
	return &decoder{out: out, maxBytes: maxBytes, timeout: timeout, sm: sm, log: log, streams: map[streamKey]*pending{}}
}

// Emit decodes b and hands on what it completes.
func (d *decoder) Emit(ctx context.Context, b *event.Batch) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := time.Now()
	b.Ack.Retain(1) // the hold the new batch's Ack takes over
	parents := []*event.Ack{b.Ack}
	kept := b.Events[:0]
	for i := range b.Events {
		e := b.Events[i]
		l, err := d.parse(e.Message)
		if err != nil {
			// Not a runtime record (a file written by hand, a damaged
			// line): shipped as it is, counted.
			d.sm.decodeErrors.Inc()
			if now.Sub(d.lastError) > time.Minute {
				d.lastError = now
				d.log.Warn("a line is not a CRI or docker json-file record; shipping it as it is (further ones are counted in drover_kubernetes_decode_errors_total, logged at most once a minute)",
					"error", err, "container", containerOf(e.Meta))
			}
			kept = append(kept, e)
			continue
		}
		fs := stdoutFields
		if l.Stream == "stderr" {
			fs = stderrFields
		}
		k := streamKey{e.Meta, l.Stream}
		p := d.streams[k]
		if p == nil && !l.Partial && e.Flags&event.Partial == 0 {
			e.Message, e.Fields = l.Message, fs
			if !l.Time.IsZero() {
				e.Timestamp = l.Time
			}
			if len(e.Message) > d.maxBytes {
				e.Message = e.Message[:d.maxBytes]
				e.Flags |= event.Truncated
			}
			kept = append(kept, e)
			continue
		}
		if p == nil {
			p = &pending{j: containerlog.Joiner{MaxBytes: d.maxBytes}, first: now, meta: e.Meta, fs: fs}
			d.streams[k] = p
		}
		if e.Flags&event.Partial != 0 {
			l.Partial = true // the record itself was cut (no newline yet)
		}
		whole, truncated, done := p.j.Add(l)
		if !done {
			if n := len(p.acks); n == 0 || p.acks[n-1] != b.Ack {
				b.Ack.Retain(1)
				p.acks = append(p.acks, b.Ack)
			}
			continue
		}
		d.sm.joined.Inc()
		e.Message = append([]byte(nil), whole.Message...)
		e.Fields = fs
		if !whole.Time.IsZero() {
			e.Timestamp = whole.Time
		}
		e.Flags &^= event.Partial
		if truncated || e.Flags&event.Truncated != 0 {
			e.Flags |= event.Truncated
		}
		kept = append(kept, e)
		parents = append(parents, p.acks...)
		delete(d.streams, k)
	}
	clear(b.Events[len(kept):])
	nb := &event.Batch{Events: kept, Ack: event.JoinAcks(parents)}
	err := d.emit(ctx, nb)
	if err == nil {
		d.flushStaleLocked(ctx, now)
	}
	return err
}

// emit hands a batch on (none when it is empty) and releases the
// creator's hold on its Ack.
func (d *decoder) emit(ctx context.Context, nb *event.Batch) error {
	if len(nb.Events) == 0 {
		nb.Ack.Release(event.Delivered)
		return nil
	}
	if err := d.out.Emit(ctx, nb); err != nil {
		nb.Ack.Release(event.Failed)
		return err
	}
	nb.Ack.Release(event.Delivered)
	return nil
}

// flushStale sends the split lines that waited longer than
// partial_line_timeout.
func (d *decoder) flushStale(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.flushStaleLocked(ctx, time.Now())
}

func (d *decoder) flushStaleLocked(ctx context.Context, now time.Time) error {
	var evs []event.Event
	var parents []*event.Ack
	for k, p := range d.streams {
		if now.Sub(p.first) < d.timeout {
			continue
		}
		whole, truncated, _ := p.j.Add(containerlog.Line{Stream: k.stream})
		e := event.Event{Timestamp: whole.Time, Message: append([]byte(nil), whole.Message...), Meta: p.meta, Fields: p.fs, Flags: event.Partial}
		if truncated {
			e.Flags |= event.Truncated
		}
		evs = append(evs, e)
		parents = append(parents, p.acks...)
		delete(d.streams, k)
		d.sm.partialFlushed.Inc()
	}
	if len(evs) == 0 {
		return nil
	}
	return d.emit(ctx, &event.Batch{Events: evs, Ack: event.JoinAcks(parents)})
}

// failHeld releases what waits as failed (Run ends: it is read again).
func (d *decoder) failHeld() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for k, p := range d.streams {
		for _, a := range p.acks {
			a.Release(event.Failed)
		}
		delete(d.streams, k)
	}
}

// run flushes stale split lines until ctx ends.
func (d *decoder) run(ctx context.Context) {
	every := min(d.timeout/2, time.Second)
	t := time.NewTicker(max(every, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if d.flushStale(ctx) != nil {
				return
			}
		}
	}
}

func (d *decoder) parse(line []byte) (containerlog.Line, error) {
	if len(line) > 0 && line[0] == '{' {
		return d.docker.Parse(line)
	}
	return containerlog.ParseCRI(line)
}

// containerOf names the container of a stream's metadata for a log line.
func containerOf(m *event.Meta) string {
	if m == nil || m.Fields == nil {
		return ""
	}
	ns, _ := m.Fields.Get("kubernetes.namespace")
	pod, _ := m.Fields.Get("kubernetes.pod_name")
	c, _ := m.Fields.Get("kubernetes.container_name")
	return ns.Str() + "/" + pod.Str() + "/" + c.Str()
}
