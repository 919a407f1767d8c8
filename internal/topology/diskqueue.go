package topology

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"

	"github.com/drover-dev/drover/internal/buffer/disk"
	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/config"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/metrics"
)

// A disk-buffered sink gets its batches in two steps: routers push into the
// disk buffer of the sink's id (diskTarget), and a feeder moves batches from
// disk into a window, an ordinary queue that is the sink instance's input.
// The window bounds what the sink holds in memory; the disk buffer outlives
// sink instances, so a reload that replaces the sink keeps the buffer and
// the sources never notice.

// diskWindowEvents bounds the events read from a disk buffer that its sink
// holds and has not acknowledged.
const diskWindowEvents = config.DefaultBufferMaxEvents

// windowMetrics absorb the counts of the windows: the disk buffer counts
// for its sink (received events, buffer_events, buffer_bytes).
var windowMetrics = metrics.New().Component("sink", "disk_window", "")

// diskQueue is the disk buffer of one sink id and the feeder that hands its
// batches to the current sink instance.
type diskQueue struct {
	buf *disk.Buffer
	log *slog.Logger

	mu     sync.Mutex
	win    *queue        // the current instance's window; nil before the first
	change chan struct{} // closed and replaced when win changes

	cancel context.CancelFunc
	done   chan struct{}
}

// diskDir is where the disk buffer of a sink lives.
func diskDir(dataDir, sinkID string) string { return filepath.Join(dataDir, "buffer", sinkID) }

func diskLimits(b config.Buffer) disk.Limits {
	l := disk.Limits{MaxSize: int64(b.MaxSize), FsyncInterval: b.FsyncInterval}
	if b.WhenFull == "drop_newest" {
		l.WhenFull = disk.DropNewest
	}
	return l
}

// openDiskQueue opens the disk buffer of a sink and starts its feeder.
func openDiskQueue(cctx component.Context, b config.Buffer) (*diskQueue, error) {
	buf, err := disk.Open(disk.Options{
		Dir:     diskDir(cctx.DataDir, cctx.ID),
		Limits:  diskLimits(b),
		Logger:  cctx.Logger,
		Metrics: cctx.Metrics,
		Health:  cctx.Health,
	})
	if err != nil {
		return nil, fmt.Errorf("opening the disk buffer: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d := &diskQueue{buf: buf, log: cctx.Logger, change: make(chan struct{}), cancel: cancel, done: make(chan struct{})}
	go d.feed(ctx)
	return d, nil
}

// window returns a new input queue for a sink instance. attach makes the
// feeder fill it.
func (d *diskQueue) window() *queue { return newQueue(diskWindowEvents, windowMetrics) }

// attach makes w the window the feeder fills from now on. The previous
// window keeps what it holds; when it is retired, the feeder's batch that
// it refused is handed out again into w.
func (d *diskQueue) attach(w *queue) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.win = w
	close(d.change)
	d.change = make(chan struct{})
}

// current waits for a window other than dead; nil when ctx ended.
func (d *diskQueue) current(ctx context.Context, dead *queue) *queue {
	for {
		d.mu.Lock()
		w, change := d.win, d.change
		d.mu.Unlock()
		if w != nil && w != dead {
			return w
		}
		select {
		case <-change:
		case <-ctx.Done():
			return nil
		}
	}
}

// feed moves batches from disk into the current window until ctx ends.
func (d *diskQueue) feed(ctx context.Context) {
	defer close(d.done)
	var dead *queue
	for {
		w := d.current(ctx, dead)
		if w == nil {
			return
		}
		b, err := d.buf.Next(ctx)
		if err != nil {
			return
		}
		if err := w.push(ctx, b); err != nil {
			// The instance is going away (or drover is): the buffer hands
			// the batch out again, to the next instance or after restart.
			b.Ack.Release(event.Failed)
			if ctx.Err() != nil {
				return
			}
			dead = w
			continue
		}
		b.Ack.Release(event.Delivered) // the window holds it now
	}
}

// update applies changed limits (max_size, when_full, fsync_interval).
func (d *diskQueue) update(b config.Buffer) { d.buf.SetLimits(diskLimits(b)) }

// retire makes pushes fail with errRetired, so that routers move to the
// sink's successor; the buffer keeps its contents.
func (d *diskQueue) retire() {
	if d != nil {
		d.buf.Retire()
	}
}

// close stops the feeder and closes the buffer: admitted batches are synced
// and acknowledged, what the sink did not acknowledge stays on disk for the
// next run. Call it once the sink instances reading from it have stopped.
func (d *diskQueue) close() {
	if d == nil {
		return
	}
	d.buf.Retire()
	d.cancel()
	<-d.done
	if err := d.buf.Close(); err != nil {
		d.log.Error("closing the disk buffer", "error", err)
	}
}

// diskTarget feeds a sink's disk buffer.
type diskTarget struct {
	sinkID string
	d      *diskQueue
}

func (t *diskTarget) id() string { return t.sinkID }

func (t *diskTarget) deliver(ctx context.Context, b *event.Batch) error {
	err := t.d.buf.Push(ctx, b)
	if errors.Is(err, disk.ErrClosed) {
		return errRetired
	}
	return err
}

// sinkQueue returns the input queue of a new instance of sink c: a memory
// queue, or a window of the sink's disk buffer, which is opened (into
// built.disks) when the sink has none yet.
func (t *Topology) sinkQueue(c *config.Component, cctx component.Context, built *builtSet) (*queue, error) {
	if c.Buffer.Type != "disk" {
		if t.disks[c.ID] == nil {
			if segs, _ := filepath.Glob(filepath.Join(diskDir(cctx.DataDir, c.ID), "*.seg")); len(segs) > 0 {
				cctx.Logger.Warn("a disk buffer of this sink from an earlier configuration holds segment files; "+
					"they are delivered when the sink uses buffer { type = \"disk\" } again", "dir", diskDir(cctx.DataDir, c.ID))
			}
		}
		return newQueue(c.Buffer.MaxEvents, cctx.Metrics), nil
	}
	d := t.disks[c.ID]
	if d == nil {
		var err error
		if d, err = openDiskQueue(cctx, c.Buffer); err != nil {
			return nil, err
		}
		built.disks[c.ID] = d
	}
	return d.window(), nil
}

// diskOf returns the disk buffer a sink of cfg writes to, or nil.
func (t *Topology) diskOf(cfg *config.Config, id string) *diskQueue {
	if c := cfg.Component(id); c == nil || c.Kind != component.KindSink || c.Buffer.Type != "disk" {
		return nil
	}
	return t.disks[id]
}

// installDisks adopts the disk buffers a reload opened, attaches the
// windows of the sink instances it started, and takes out the buffers of
// sinks that are gone or no longer disk-buffered; those are returned, to be
// retired once routes no longer lead to them and closed once their old
// instance has stopped.
func (t *Topology) installDisks(cfg *config.Config, built *builtSet) map[string]*diskQueue {
	for id, d := range built.disks {
		t.disks[id] = d
	}
	gone := map[string]*diskQueue{}
	for id, d := range t.disks {
		if t.diskOf(cfg, id) == nil {
			gone[id] = d
			delete(t.disks, id)
			if n := d.buf.Stats().Events; n > 0 {
				d.log.Warn("the sink no longer uses its disk buffer; the events in it stay on disk and are delivered when it does again",
					"events", n)
			}
		}
	}
	for id, s := range built.sinks {
		if d := t.disks[id]; d != nil {
			d.update(cfg.Component(id).Buffer)
			d.attach(s.q)
		}
	}
	return gone
}

// target returns the router target of sink instance s.
func (t *Topology) target(cfg *config.Config, id string, s *sinkRunner) target {
	if d := t.diskOf(cfg, id); d != nil {
		return &diskTarget{sinkID: id, d: d}
	}
	if cfg.Component(id).Buffer.WhenFull == "drop_newest" {
		return &dropTarget{sinkID: id, q: s.q, m: s.ctx.Metrics, log: s.ctx.Logger}
	}
	return &sinkTarget{sinkID: id, q: s.q}
}

// closeDisks closes every disk buffer, in parallel.
func (t *Topology) closeDisks() {
	var wg sync.WaitGroup
	for id, d := range t.disks {
		delete(t.disks, id)
		wg.Add(1)
		go func() { defer wg.Done(); d.close() }()
	}
	wg.Wait()
}
