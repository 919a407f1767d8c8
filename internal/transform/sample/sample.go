// Package sample is the `transform "sample"` component: it keeps one event
// in rate for each key (a template of the event's fields; one key for all
// by default), the first of every rate, and drops the others, counted per
// reason ("sampled") and per key. Events that match exclude are always
// kept: with exclude = `level in ["error", "fatal"]` no error line is ever
// sampled away.
package sample

import (
	"context"
	"sync"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/config"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/transform"
)

// Type is the component type name.
const Type = "sample"

func init() { component.RegisterTransform(Type, NewConfig, nil, New) }

// Config is the configuration of a `transform "sample"` block.
type Config struct {
	// Rate keeps 1 event in Rate per key.
	Rate int `hcl:"rate,required"`
	// key_field, exclude (always kept) and max_keys.
	transform.KeyOptions
}

// NewConfig returns the defaults.
func NewConfig() *Config {
	return &Config{KeyOptions: transform.KeyOptions{MaxKeys: transform.DefaultMaxKeys}}
}

// Validate checks the options.
func (c *Config) Validate() error {
	if c.Rate < 1 {
		return config.Errorf("rate", "must be at least 1")
	}
	return c.KeyOptions.Validate()
}

// Sampler is the sample transform.
type Sampler struct {
	cfg      *Config
	discards *transform.KeyedDiscards

	mu     sync.Mutex
	counts map[string]*keyState
}

// keyState is the count of one key; dropped counts its discards in the
// batch under way.
type keyState struct {
	key     string
	n       uint64
	dropped int
}

// New returns a sampler for a validated config.
func New(ctx component.Context, cfg *Config) (*Sampler, error) {
	d, err := transform.NewKeyedDiscards(ctx, 1000)
	if err != nil {
		return nil, err
	}
	return &Sampler{cfg: cfg, discards: d, counts: map[string]*keyState{}}, nil
}

// Process implements component.Transform.
func (s *Sampler) Process(ctx context.Context, b *event.Batch, out component.Emitter) error {
	var keyBuf [128]byte
	var dropped []*keyState
	rate := uint64(s.cfg.Rate)
	s.mu.Lock()
	kept := transform.Keep(b.Events, func(e *event.Event) bool {
		if s.cfg.Excluded(e) {
			return true
		}
		key := s.cfg.AppendKey(keyBuf[:0], e)
		st := s.counts[string(key)]
		if st == nil {
			if len(s.counts) >= s.cfg.MaxKeys {
				// Start over rather than grow without bound.
				clear(s.counts)
			}
			st = &keyState{key: string(key)}
			s.counts[st.key] = st
		}
		st.n++
		if (st.n-1)%rate == 0 {
			return true
		}
		if st.dropped == 0 {
			dropped = append(dropped, st)
		}
		st.dropped++
		return false
	})
	type count struct {
		key string
		n   int
	}
	counts := make([]count, 0, len(dropped))
	for _, st := range dropped {
		counts = append(counts, count{st.key, st.dropped})
		st.dropped = 0
	}
	s.mu.Unlock()
	for _, c := range counts {
		s.discards.AddKey("sampled", c.key, c.n)
	}
	return transform.EmitKept(ctx, out, b, kept)
}
