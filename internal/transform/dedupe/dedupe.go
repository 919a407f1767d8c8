// Package dedupe is the `transform "dedupe"` component: it drops an event
// whose fields (message by default) equal those of an event seen recently
// in the same stream, counted as discarded with reason "duplicate". It
// remembers the last cache_size distinct events (the oldest is forgotten
// first) and, with a window, only those seen within it.
//
// Events are compared by a 64-bit hash of the chosen fields' values, so
// memory per remembered event is a few words whatever the event's size.
package dedupe

import (
	"context"
	"hash/maphash"
	"sync"
	"time"
	"unsafe"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/config"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/transform"
)

// Type is the component type name.
const Type = "dedupe"

func init() { component.RegisterTransform(Type, NewConfig, nil, component.Infallible(New)) }

// Config is the configuration of a `transform "dedupe"` block.
type Config struct {
	// Fields are the paths compared; default ["message"].
	Fields []string `hcl:"fields"`
	// AcrossStreams compares events of all streams; by default only events
	// of the same stream (file, task stream) are duplicates of each other.
	AcrossStreams bool `hcl:"across_streams"`
	// CacheSize is how many distinct events are remembered.
	CacheSize int `hcl:"cache_size"`
	// Window, when set, forgets events seen longer ago.
	Window time.Duration `hcl:"window"`

	paths [][]string
}

// NewConfig returns the defaults.
func NewConfig() *Config { return &Config{Fields: []string{"message"}, CacheSize: 5000} }

// Validate checks the options.
func (c *Config) Validate() error {
	if len(c.Fields) == 0 {
		return config.Errorf("fields", "must name at least one field")
	}
	if c.CacheSize <= 0 {
		return config.Errorf("cache_size", "must be greater than zero")
	}
	c.paths = nil
	for _, f := range c.Fields {
		if f == "" {
			return config.Errorf("fields", "must not hold an empty path")
		}
		c.paths = append(c.paths, transform.SplitPath(f))
	}
	return nil
}

// Dedupe is the dedupe transform.
type Dedupe struct {
	cfg      *Config
	seed     maphash.Seed
	discards *transform.Discards
	now      func() time.Time

	mu   sync.Mutex
	seen map[uint64]time.Time
	ring []uint64 // insertion order, for eviction
	next int
	buf  []byte // the hashed bytes of the event under way
}

// New returns a dedupe transform for a validated config.
func New(ctx component.Context, cfg *Config) *Dedupe {
	return &Dedupe{cfg: cfg, seed: maphash.MakeSeed(), discards: transform.NewDiscards(ctx), now: time.Now,
		seen: make(map[uint64]time.Time, cfg.CacheSize), ring: make([]uint64, 0, cfg.CacheSize)}
}

// hash hashes the compared fields of e; d.mu is held.
func (d *Dedupe) hash(e *event.Event) uint64 {
	buf := d.buf[:0]
	for _, p := range d.cfg.paths {
		v, ok := e.GetPath(p)
		if !ok {
			buf = append(buf, 0)
			continue
		}
		buf = append(buf, byte(v.Kind())+1)
		buf = v.AppendText(buf)
		buf = append(buf, 0xff)
	}
	if !d.cfg.AcrossStreams {
		p := uintptr(unsafe.Pointer(e.Meta))
		for i := 0; i < 8; i++ {
			buf = append(buf, byte(p>>(8*i)))
		}
	}
	d.buf = buf
	return maphash.Bytes(d.seed, buf)
}

// Process implements component.Transform.
func (d *Dedupe) Process(ctx context.Context, b *event.Batch, out component.Emitter) error {
	d.mu.Lock()
	now := d.now()
	kept := transform.Keep(b.Events, func(e *event.Event) bool {
		k := d.hash(e)
		if at, ok := d.seen[k]; ok && (d.cfg.Window == 0 || now.Sub(at) < d.cfg.Window) {
			return false
		}
		d.remember(k, now)
		return true
	})
	d.mu.Unlock()
	d.discards.Add("duplicate", len(b.Events)-len(kept), "fields", d.cfg.Fields)
	return transform.EmitKept(ctx, out, b, kept)
}

// remember adds k, forgetting the oldest entry when the cache is full.
func (d *Dedupe) remember(k uint64, now time.Time) {
	if _, ok := d.seen[k]; ok {
		d.seen[k] = now // seen again after its window: a new sighting
		return
	}
	if len(d.ring) < d.cfg.CacheSize {
		d.ring = append(d.ring, k)
	} else {
		delete(d.seen, d.ring[d.next])
		d.ring[d.next] = k
		d.next = (d.next + 1) % d.cfg.CacheSize
	}
	d.seen[k] = now
}
