// Package throttle is the `transform "throttle"` component: it lets at
// most threshold events per window through for each key (a template of
// the event's fields, such as "{{ nomad.namespace }}/{{ nomad.job_name }}")
// and drops the rest, counted per reason ("throttled") and per key. Events
// that match exclude are never throttled (and not counted against the
// rate).
//
// The rate is a token bucket per key: it holds up to threshold events and
// refills at threshold per window, so a quiet key may burst up to
// threshold at once. Keys idle for a window are forgotten; past max_keys
// keys, new keys share one bucket.
package throttle

import (
	"context"
	"sync"
	"time"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/config"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/transform"
)

// Type is the component type name.
const Type = "throttle"

func init() { component.RegisterTransform(Type, NewConfig, nil, New) }

// Config is the configuration of a `transform "throttle"` block.
type Config struct {
	Threshold int           `hcl:"threshold,required"`
	Window    time.Duration `hcl:"window"`
	// key_field, exclude (never throttled) and max_keys.
	transform.KeyOptions
}

// NewConfig returns the defaults.
func NewConfig() *Config {
	return &Config{Window: time.Second, KeyOptions: transform.KeyOptions{MaxKeys: transform.DefaultMaxKeys}}
}

// Validate checks the options.
func (c *Config) Validate() error {
	if c.Threshold <= 0 {
		return config.Errorf("threshold", "must be greater than zero")
	}
	if c.Window <= 0 {
		return config.Errorf("window", "must be greater than zero")
	}
	return c.KeyOptions.Validate()
}

type bucket struct {
	key     string
	tokens  float64
	last    time.Time
	dropped int // in the batch under way
}

// Throttle is the throttle transform.
type Throttle struct {
	cfg      *Config
	rate     float64 // tokens per nanosecond
	discards *transform.KeyedDiscards
	now      func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

// New returns a throttle for a validated config.
func New(ctx component.Context, cfg *Config) (*Throttle, error) {
	d, err := transform.NewKeyedDiscards(ctx, 1000)
	if err != nil {
		return nil, err
	}
	return &Throttle{cfg: cfg, rate: float64(cfg.Threshold) / float64(cfg.Window), discards: d,
		now: time.Now, buckets: map[string]*bucket{}}, nil
}

// Process implements component.Transform.
func (t *Throttle) Process(ctx context.Context, b *event.Batch, out component.Emitter) error {
	var keyBuf [128]byte
	var dropped []*bucket
	t.mu.Lock()
	now := t.now()
	t.sweep(now)
	kept := transform.Keep(b.Events, func(e *event.Event) bool {
		if t.cfg.Excluded(e) {
			return true
		}
		key := t.cfg.AppendKey(keyBuf[:0], e)
		bk := t.buckets[string(key)]
		if bk == nil {
			k := string(key)
			if len(t.buckets) >= t.cfg.MaxKeys {
				k = transform.OtherKey
				bk = t.buckets[k]
			}
			if bk == nil {
				bk = &bucket{key: k, tokens: float64(t.cfg.Threshold), last: now}
				t.buckets[k] = bk
			}
		}
		bk.tokens = min(float64(t.cfg.Threshold), bk.tokens+float64(now.Sub(bk.last))*t.rate)
		bk.last = now
		if bk.tokens >= 1 {
			bk.tokens--
			return true
		}
		if bk.dropped == 0 {
			dropped = append(dropped, bk)
		}
		bk.dropped++
		return false
	})
	type count struct {
		key string
		n   int
	}
	counts := make([]count, 0, len(dropped))
	for _, bk := range dropped {
		counts = append(counts, count{bk.key, bk.dropped})
		bk.dropped = 0
	}
	t.mu.Unlock()
	for _, c := range counts {
		t.discards.AddKey("throttled", c.key, c.n)
	}
	return transform.EmitKept(ctx, out, b, kept)
}

// sweep forgets the keys whose bucket has been full (idle) for a window,
// at most once per window.
func (t *Throttle) sweep(now time.Time) {
	if now.Sub(t.swept) < t.cfg.Window {
		return
	}
	t.swept = now
	for k, bk := range t.buckets {
		if now.Sub(bk.last) >= t.cfg.Window {
			delete(t.buckets, k)
		}
	}
}
