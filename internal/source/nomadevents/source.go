package nomadevents

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hashicorp/nomad/api"

	"github.com/drover-dev/drover/internal/backoff"
	"github.com/drover-dev/drover/internal/checkpoint"
	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/health"
	"github.com/drover-dev/drover/internal/metrics"
)

// stateVersion is the format version of the cursor file.
const stateVersion = 1

// state is what the cursor file holds.
type state struct {
	Cursor
	// Subscription is the topics and namespace the cursor was made with.
	Subscription string `json:"subscription"`
}

// Source ships Nomad's event stream (see the package documentation). It
// implements component.Source.
type Source struct {
	cfg     *Config
	id      string
	log     *slog.Logger
	m       *metrics.Component
	client  *api.Client
	topics  []topicFilter
	path    string
	subKey  string
	meta    *event.Meta
	file    checkpoint.File
	flusher *checkpoint.Flusher
	tracker *tracker

	// Used by Run's goroutine only (Run calls do not overlap).
	loaded   bool
	needNow  bool
	resume   Cursor
	failures *health.Streak
	// behindSince is when connections started to begin below the exact
	// cursor (zero while they do not).
	behindSince time.Time

	st streamStatus // for Describe (status.go)
}

// New returns a source for cfg, which must be valid. It does not contact
// Nomad or read the cursor: that happens when Run starts.
func New(cctx component.Context, cfg *Config) (*Source, error) {
	client, err := cfg.Nomad.NewClient()
	if err != nil {
		return nil, err
	}
	log := cctx.Logger
	if log == nil {
		log = slog.Default()
	}
	m := cctx.Metrics
	if m == nil {
		m = metrics.ForTest(string(component.KindSource), SourceType, cctx.ID)
	}
	s := &Source{
		cfg:    cfg,
		id:     cctx.ID,
		log:    log,
		m:      m,
		client: client,
		topics: parseTopics(cfg.Topics),
		path:   streamPath(cfg.Topics),
		subKey: subscriptionKey(cfg.Topics, cfg.Namespace),
		meta:   newMeta(cctx.ID, cctx.Host),
		file:   checkpoint.File{Path: checkpoint.PathFor(cctx.DataDir, SourceType, cctx.ID), Version: stateVersion},
		failures: health.NewStreak(health.StreakConfig{Logger: log, Health: cctx.Health, Condition: health.ConditionAPI,
			Remind: health.DefaultRemind}),
	}
	s.flusher = checkpoint.NewFlusher(cfg.CheckpointInterval, s.save, log, m.Errors("checkpoint"))
	return s, nil
}

// StatePath is where the source keeps its cursor.
func (s *Source) StatePath() string { return s.file.Path }

func (s *Source) save() error {
	return s.file.Save(state{Cursor: s.tracker.Snapshot(), Subscription: s.subKey})
}

// load reads the cursor, or sets up the start point of a fresh one.
func (s *Source) load() error {
	var st state
	found, err := s.file.Load(&st)
	var corrupt *checkpoint.CorruptError
	switch {
	case err != nil && errors.As(err, &corrupt) && found:
		s.m.Errors("checkpoint").Inc()
		s.log.Warn("cursor file is unusable; using its previous generation", "error", err)
	case err != nil && errors.As(err, &corrupt):
		s.m.Errors("checkpoint").Inc()
		s.log.Error("cursor file is unusable and has no usable backup; starting as configured by start_at",
			"error", err, "start_at", s.cfg.StartAt)
		found = false
	case err != nil:
		return fmt.Errorf("loading the cursor: %w", err)
	}
	switch {
	case found:
		s.resume = st.Cursor
		if st.Subscription != s.subKey {
			s.resume.Exact = false
			s.log.Info("topics or namespace changed since the cursor was saved; resuming at its index without gap detection",
				"index", st.Index, "saved", st.Subscription, "configured", s.subKey)
		} else {
			s.log.Info("resuming the event stream", "index", st.Index, "delivered_at_index", len(st.Seen))
		}
	default:
		sp, _ := parseStartAt(s.cfg.StartAt)
		s.resume = Cursor{Index: sp.index}
		s.needNow = sp.now
	}
	s.tracker = newTracker(s.resume, s.m.Unacknowledged, s.flusher.Mark)
	s.st.tracker.Store(s.tracker)
	s.loaded = true
	return nil
}

// Run reads the event stream until ctx ends, reconnecting with backoff after
// every failure. It returns an error only when the cursor file cannot be
// read.
func (s *Source) Run(ctx context.Context, out component.Emitter) error {
	if !s.loaded {
		if err := s.load(); err != nil {
			return err
		}
	}
	fctx, stopFlusher := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { s.flusher.Run(fctx) })
	defer func() {
		stopFlusher()
		wg.Wait()
	}()

	bo := backoff.Backoff{Initial: s.cfg.ReconnectInitialBackoff, Max: s.cfg.ReconnectMaxBackoff}
	for ctx.Err() == nil {
		err := s.attempt(ctx, out, &bo)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, errReconnectNow) {
			continue
		}
		// Waiting for a restarted agent was logged when it began.
		if bh := (*errBehind)(nil); !errors.As(err, &bh) {
			s.reportFailure(err)
		}
		wait := bo.Next()
		s.log.Debug("reconnecting after a pause", "delay", wait)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
		}
	}
	return nil
}

// errReconnectNow ends a connection that must be opened again at once
// (after a rewind or an index regression).
var errReconnectNow = errors.New("reconnect")

// attempt resolves a pending start_at = "now", then runs one connection.
func (s *Source) attempt(ctx context.Context, out component.Emitter, bo *backoff.Backoff) error {
	if s.tracker.FailedBatch() {
		s.rewind()
	}
	if s.needNow {
		idx, err := currentIndex(ctx, s.client, s.topics, s.cfg.Namespace)
		if err != nil {
			return &startError{err}
		}
		s.resume = Cursor{Index: idx + 1}
		s.needNow = false
		s.log.Info("starting at the current index (start_at = \"now\")", "index", idx+1)
	}
	return s.session(ctx, out, bo)
}

// startError is a failure to find where a fresh cursor starts.
type startError struct{ err error }

func (e *startError) Error() string { return e.err.Error() }
func (e *startError) Unwrap() error { return e.err }

// session runs one connection: it reads frames, reports gaps and index
// regressions, drops what was already delivered and emits the rest.
func (s *Source) session(ctx context.Context, out component.Emitter, bo *backoff.Backoff) error {
	c, err := dial(ctx, s.client, s.path, s.cfg.Namespace, s.resume.Index, s.cfg.HeartbeatTimeout, int(s.cfg.MaxFrameBytes))
	if err != nil {
		return err
	}
	defer c.close()
	s.log.Debug("event stream connected", "index", s.resume.Index)

	// A batch that a consumer gave up on must be read again: the
	// connection is cut and the next one starts at the committed cursor.
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-s.tracker.Failures():
			c.cancel()
		case <-done:
		}
	}()

	g := newGate(s.resume)
	var f frame
	connected := false
	for {
		line, err := c.readLine()
		if s.tracker.FailedBatch() {
			s.rewind()
			return errReconnectNow
		}
		s.resume = g.position()
		var big *frameTooLargeError
		if errors.As(err, &big) {
			s.skipFrame(g, big)
			continue
		}
		if err != nil {
			return err
		}
		if !connected {
			connected = true
			s.connected()
		}
		if len(line) == 0 {
			continue
		}
		if err := decodeFrame(line, &f); err != nil {
			s.m.Errors("decode").Inc()
			s.m.Discarded("invalid_frame").Inc()
			s.log.Error("discarding a stream line that is not a valid event frame", "error", err, "line", clip(line, 200))
			continue
		}
		if f.heartbeat() {
			continue
		}
		s.m.ReceivedEvents.Add(float64(len(f.events)))
		s.m.ReceivedBytes.Add(float64(len(line)))
		switch g.check(f.index) {
		case streamBehind:
			if err := s.behind(f.index); err != nil {
				return err
			}
			return s.regression(ctx, out, g, f.index)
		case streamRegression:
			return s.regression(ctx, out, g, f.index)
		case streamGap:
			s.gap(ctx, out, g, f.index)
		}
		s.behindSince = time.Time{}
		bo.Reset()
		if err := s.emitFrame(ctx, out, g, &f); err != nil {
			return err
		}
		s.resume = g.position()
	}
}

// rewind goes back to the committed cursor after a batch failed.
func (s *Source) rewind() {
	s.resume = s.tracker.Rewind()
	s.log.Warn("a batch was not delivered; reading again from the last acknowledged index", "index", s.resume.Index)
}

// skipFrame moves past a frame that was too long to hold. Its events are
// lost; they are counted and logged.
func (s *Source) skipFrame(g *gate, big *frameTooLargeError) {
	s.m.Discarded("frame_too_large").Inc()
	s.log.Error("discarding a stream line longer than max_frame_bytes: its events are lost",
		"bytes", big.Size, "index", big.Index, "max_frame_bytes", s.cfg.MaxFrameBytes)
	if big.Index > g.cur.Index {
		// Every event at that index counts as handled. The cursor is not
		// exact: none of them was delivered.
		g.cur = Cursor{Index: big.Index}
		g.skip = nil
		s.resume = g.position()
		s.tracker.Mark(s.resume)
	}
}

// emitFrame emits the new events of a frame as one batch.
func (s *Source) emitFrame(ctx context.Context, out component.Emitter, g *gate, f *frame) error {
	received := time.Now()
	evs := make([]event.Event, 0, len(f.events))
	dups := 0
	for i := range f.events {
		ev := &f.events[i]
		if !g.accept(ev.index, identity(ev)) {
			dups++
			continue
		}
		evs = append(evs, event.Event{})
		buildEvent(&evs[len(evs)-1], ev, s.meta, received, false)
	}
	if dups > 0 {
		s.m.Discarded("duplicate").Add(float64(dups))
	}
	if len(evs) == 0 {
		return nil
	}
	return s.emit(ctx, out, evs, g.position())
}

// emit hands a batch on, tracked so that its acknowledgement commits pos.
func (s *Source) emit(ctx context.Context, out component.Emitter, evs []event.Event, pos Cursor) error {
	b := &event.Batch{Events: evs, Ack: s.tracker.Add(pos)}
	err := out.Emit(ctx, b)
	b.Ack.Release(event.Delivered)
	if err != nil {
		return fmt.Errorf("emitting events: %w", err)
	}
	s.m.SentEvents.Add(float64(len(evs)))
	s.st.read(pos.Index, time.Now())
	return nil
}

// errBehind ends a connection that started below the exact cursor while
// regression_grace has not run out.
type errBehind struct {
	cursor, first uint64
}

func (e *errBehind) Error() string {
	return fmt.Sprintf("the stream starts at index %d, below the cursor %d: waiting for the agent to rebuild its event buffer", e.first, e.cursor)
}

// behind handles a connection whose first index is below the exact cursor.
// An agent that restarted with its data dir sends old indexes while it
// replays its Raft log, then holds the cursor's index again; so the source
// retries for regression_grace before it believes in a regression (nil).
func (s *Source) behind(first uint64) error {
	if s.behindSince.IsZero() {
		s.behindSince = time.Now()
		if s.cfg.RegressionGrace > 0 {
			s.log.Info("the stream starts below the cursor: the agent may be rebuilding its event buffer after a restart; retrying before the cursor is reset",
				"cursor", s.resume.Index, "first_index", first, "regression_grace", s.cfg.RegressionGrace)
		}
	}
	if time.Since(s.behindSince) < s.cfg.RegressionGrace {
		return &errBehind{cursor: s.resume.Index, first: first}
	}
	s.behindSince = time.Time{}
	return nil
}

// regression handles an index that went backwards: the cursor is reset and
// the stream read again from the oldest event Nomad holds.
func (s *Source) regression(ctx context.Context, out component.Emitter, g *gate, index uint64) error {
	s.m.Errors("index_regression").Inc()
	s.log.Warn("Nomad's event index went backwards (cluster restored or -dev agent restarted); resetting the cursor and reading from the oldest event Nomad holds",
		"cursor", g.cur.Index, "received", index)
	s.resume = Cursor{}
	s.tracker.Mark(s.resume)
	if s.cfg.Resync {
		s.resync(ctx, out, s.resume)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return errReconnectNow
}

// gap reports a resumed stream that starts after its exact cursor: the
// events in between may have aged out of Nomad's buffer.
func (s *Source) gap(ctx context.Context, out component.Emitter, g *gate, first uint64) {
	s.m.Errors("gap").Inc()
	msg := "events may have been missed: Nomad no longer holds the cursor's index (drover was away longer than Nomad's event buffer lasts)"
	if !s.cfg.Resync {
		msg += "; set resync = true to emit a snapshot of the current state"
	}
	s.log.Warn(msg, "cursor", g.cur.Index, "first_index", first)
	if s.cfg.Resync {
		s.resync(ctx, out, g.position())
	}
}

// resync emits the current objects of the subscribed topics as synthetic
// events. They do not move the cursor. A failure is logged and counted;
// the stream goes on.
func (s *Source) resync(ctx context.Context, out component.Emitter, pos Cursor) {
	total := 0
	for _, l := range listsFor(s.topics) {
		if !l.snapshot {
			continue
		}
		items, index, err := fetchList(ctx, s.client, l, s.cfg.Namespace, 0)
		if err == nil {
			var n int
			n, err = s.emitSnapshot(ctx, out, l, items, index, pos)
			total += n
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.m.Errors("snapshot").Inc()
			var se *StatusError
			if errors.As(err, &se) && se.permissionDenied() {
				err = fmt.Errorf("%w (the token needs namespace list-jobs and read-job, and node:read for nodes)", err)
			}
			s.log.Error("resync snapshot incomplete", "list", l.path, "error", err)
		}
	}
	s.log.Info("resync snapshot emitted", "events", total)
}

// snapshotBatch is the most synthetic events in one batch.
const snapshotBatch = 500

func (s *Source) emitSnapshot(ctx context.Context, out component.Emitter, l stateList, items []json.RawMessage, index uint64, pos Cursor) (int, error) {
	total := 0
	for len(items) > 0 {
		chunk := items[:min(len(items), snapshotBatch)]
		items = items[len(chunk):]
		line, err := snapshotFrame(l, chunk, index, s.topics)
		if err != nil || line == nil {
			if err != nil {
				return total, err
			}
			continue
		}
		var f frame
		if err := decodeFrame(line, &f); err != nil {
			return total, fmt.Errorf("decoding the snapshot of %s: %w", l.path, err)
		}
		received := time.Now()
		evs := make([]event.Event, len(f.events))
		for i := range f.events {
			buildEvent(&evs[i], &f.events[i], s.meta, received, true)
		}
		if err := s.emit(ctx, out, evs, pos); err != nil {
			return total, err
		}
		total += len(evs)
	}
	return total, nil
}

// Close waits until the emitted batches are acknowledged or ctx ends, then
// saves the cursor.
func (s *Source) Close(ctx context.Context) error {
	defer s.client.Close()
	if s.tracker == nil {
		return nil
	}
	if err := s.tracker.Wait(ctx); err != nil {
		s.log.Warn("stopping with unacknowledged events; they are read again at the next start",
			"batches", s.tracker.PendingBatches())
	}
	if err := s.flusher.Flush(); err != nil {
		return fmt.Errorf("saving the cursor: %w", err)
	}
	return nil
}

func clip(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}
