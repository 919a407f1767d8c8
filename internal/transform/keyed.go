package transform

import (
	"fmt"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/config"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/expression"
	"github.com/drover-dev/drover/internal/metrics"
	"github.com/drover-dev/drover/internal/template"
)

// KeyedDiscards counts discards per key as well as per reason, in
// drover_component_discarded_events_by_key_total{reason, key}, beside the
// usual component_discarded_events_total{reason} (Discards). Past maxKeys
// distinct keys, further keys are counted as OtherKey, so that a key with
// unbounded values cannot blow up the metrics.
type KeyedDiscards struct {
	*Discards
	vec     *prometheus.CounterVec
	labels  prometheus.Labels
	maxKeys int

	mu   sync.Mutex
	byID map[string]prometheus.Counter
}

// OtherKey is the key under which discards of keys past the limit count.
const OtherKey = "_other"

// NewKeyedDiscards returns the per-key discard counter of a component.
func NewKeyedDiscards(ctx component.Context, maxKeys int) (*KeyedDiscards, error) {
	d := NewDiscards(ctx)
	vec, err := metrics.RegisterOrReuse(d.m.Registerer(), prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "drover", Name: "component_discarded_events_by_key_total",
		Help: "Events a transform discarded by design, by reason and by the key it keeps its rate per (throttle, sample).",
	}, []string{"component_kind", "component_type", "component_id", "reason", "key"}))
	if err != nil {
		return nil, fmt.Errorf("registering metrics: %w", err)
	}
	return &KeyedDiscards{Discards: d, vec: vec, labels: d.m.Labels(), maxKeys: maxKeys, byID: map[string]prometheus.Counter{}}, nil
}

// AddKey counts n events of key discarded for reason.
func (k *KeyedDiscards) AddKey(reason, key string, n int) {
	if n <= 0 {
		return
	}
	k.Add(reason, n, "key", key)
	k.KeyCounter(reason, key).Add(float64(n))
}

// KeyCounter returns the counter of key's discards for reason (OtherKey's
// once maxKeys keys have counters).
func (k *KeyedDiscards) KeyCounter(reason, key string) prometheus.Counter {
	id := reason + "\x00" + key
	k.mu.Lock()
	defer k.mu.Unlock()
	if c, ok := k.byID[id]; ok {
		return c
	}
	if len(k.byID) >= k.maxKeys {
		key, id = OtherKey, reason+"\x00"+OtherKey
		if c, ok := k.byID[id]; ok {
			return c
		}
	}
	l := prometheus.Labels{"reason": reason, "key": key}
	for n, v := range k.labels {
		l[n] = v
	}
	c := k.vec.With(l)
	k.byID[id] = c
	return c
}

// Keyer renders the key of an event from a template ("{{ nomad.namespace
// }}/{{ nomad.job_name }}"); the empty template puts every event under one
// key. A missing field renders as nothing.
type Keyer struct {
	t *template.Template
}

// NewKeyer parses a key template.
func NewKeyer(src string) (Keyer, error) {
	if src == "" {
		return Keyer{}, nil
	}
	t, err := template.Parse(src)
	if err != nil {
		return Keyer{}, err
	}
	return Keyer{t: t}, nil
}

// Append appends e's key to dst.
func (k Keyer) Append(dst []byte, e *event.Event) []byte {
	if k.t == nil {
		return dst
	}
	dst, _ = k.t.Render(dst, e)
	return dst
}

// KeyOptions are the options of a transform that keeps a count or a rate
// per key (throttle, sample). Embed it in the config struct: its
// attributes belong to the transform's block.
type KeyOptions struct {
	// KeyField is a template of the key; "" puts every event under one.
	KeyField string `hcl:"key_field"`
	// Exclude is a condition: matching events are left alone and not
	// counted.
	Exclude string `hcl:"exclude"`
	// MaxKeys bounds the keys kept.
	MaxKeys int `hcl:"max_keys"`

	keyer   Keyer
	exclude *expression.Program
}

// DefaultMaxKeys is the default of max_keys.
const DefaultMaxKeys = 10000

// Validate checks the options and compiles the key and the condition.
func (k *KeyOptions) Validate() error {
	if k.MaxKeys <= 0 {
		return config.Errorf("max_keys", "must be greater than zero")
	}
	keyer, err := NewKeyer(k.KeyField)
	if err != nil {
		return config.Errorf("key_field", "%v", err)
	}
	k.keyer = keyer
	k.exclude = nil
	if k.Exclude != "" {
		p, err := expression.CompileCondition(k.Exclude)
		if err != nil {
			return config.Errorf("exclude", "%v", err)
		}
		k.exclude = p
	}
	return nil
}

// Excluded reports whether e matches exclude.
func (k *KeyOptions) Excluded(e *event.Event) bool {
	if k.exclude == nil {
		return false
	}
	ok, _ := k.exclude.Match(e)
	return ok
}

// AppendKey appends e's key to dst.
func (k *KeyOptions) AppendKey(dst []byte, e *event.Event) []byte { return k.keyer.Append(dst, e) }
