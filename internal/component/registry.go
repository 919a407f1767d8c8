package component

import (
	"fmt"
	"sort"
	"sync"
)

// Registration describes one component type.
type Registration struct {
	Kind Kind
	Type string
	// NewConfig returns a pointer to a config struct holding the defaults.
	// The struct's fields carry `hcl:"name"` tags (see internal/config).
	NewConfig func() Config
	// Outputs, when set, names the outputs a component of this type offers
	// besides its default one, for a decoded and validated configuration:
	// a route's outputs, a sink's dead letters. Other components consume
	// them as "<id>.<name>" in their inputs; the component emits to them
	// through Context.Outputs. Names are lowercase letters, digits and
	// underscores. Sinks have no default output: their named outputs are
	// their only ones.
	Outputs func(cfg Config) []string
	// Exactly one of the builders is set, matching Kind.
	BuildSource    func(ctx Context, cfg Config) (Source, error)
	BuildTransform func(ctx Context, cfg Config) (Transform, error)
	BuildSink      func(ctx Context, cfg Config) (Sink, error)
}

var (
	mu       sync.RWMutex
	registry = map[Kind]map[string]Registration{}
)

// Register makes a component type known. It panics on a duplicate or a
// registration without the builder its kind needs: both are programming errors.
func Register(r Registration) {
	mu.Lock()
	defer mu.Unlock()
	ok := r.NewConfig != nil && r.Type != ""
	switch r.Kind {
	case KindSource:
		ok = ok && r.BuildSource != nil
	case KindTransform:
		ok = ok && r.BuildTransform != nil
	case KindSink:
		ok = ok && r.BuildSink != nil
	default:
		ok = false
	}
	if !ok {
		panic(fmt.Sprintf("component: incomplete registration of %s %q", r.Kind, r.Type))
	}
	if registry[r.Kind] == nil {
		registry[r.Kind] = map[string]Registration{}
	}
	if _, dup := registry[r.Kind][r.Type]; dup {
		panic(fmt.Sprintf("component: %s type %q registered twice", r.Kind, r.Type))
	}
	registry[r.Kind][r.Type] = r
}

// Lookup returns the registration of a type.
func Lookup(kind Kind, typ string) (Registration, bool) {
	mu.RLock()
	defer mu.RUnlock()
	r, ok := registry[kind][typ]
	return r, ok
}

// Types lists the registered types of a kind, sorted.
func Types(kind Kind) []string {
	mu.RLock()
	defer mu.RUnlock()
	out := make([]string, 0, len(registry[kind]))
	for t := range registry[kind] {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// RegisterSource registers a source type whose configuration is C, the
// type newConfig returns: build receives the decoded configuration as C.
// It panics like Register.
func RegisterSource[C Config, S Source](typ string, newConfig func() C, build func(Context, C) (S, error)) {
	r := typedRegistration(KindSource, typ, newConfig, nil)
	b := typedBuild(typ, build)
	r.BuildSource = func(ctx Context, cfg Config) (Source, error) { return b(ctx, cfg) }
	Register(r)
}

// RegisterTransform registers a transform type whose configuration is C,
// the type newConfig returns: build receives the decoded configuration as
// C; outputs, when not nil, is Registration.Outputs. It panics like Register.
func RegisterTransform[C Config, T Transform](typ string, newConfig func() C, outputs func(Config) []string, build func(Context, C) (T, error)) {
	r := typedRegistration(KindTransform, typ, newConfig, outputs)
	b := typedBuild(typ, build)
	r.BuildTransform = func(ctx Context, cfg Config) (Transform, error) { return b(ctx, cfg) }
	Register(r)
}

// RegisterSink registers a sink type whose configuration is C, the type
// newConfig returns: build receives the decoded configuration as C;
// outputs, when not nil, is Registration.Outputs.
// It panics like Register.
func RegisterSink[C Config, S Sink](typ string, newConfig func() C, outputs func(Config) []string, build func(Context, C) (S, error)) {
	r := typedRegistration(KindSink, typ, newConfig, outputs)
	b := typedBuild(typ, build)
	r.BuildSink = func(ctx Context, cfg Config) (Sink, error) { return b(ctx, cfg) }
	Register(r)
}

// typedRegistration is the part of a registration that does not depend on
// the kind's builder.
func typedRegistration[C Config](kind Kind, typ string, newConfig func() C, outputs func(Config) []string) Registration {
	return Registration{Kind: kind, Type: typ, NewConfig: func() Config { return newConfig() }, Outputs: outputs}
}

// typedBuild adapts build to the configuration its registration holds.
func typedBuild[C Config, R any](typ string, build func(Context, C) (R, error)) func(Context, Config) (R, error) {
	return func(ctx Context, cfg Config) (R, error) {
		c, err := ConfigAs[C](typ, cfg)
		if err != nil {
			var none R
			return none, err
		}
		return build(ctx, c)
	}
}

// ConfigAs returns cfg as the configuration type C of the component type
// typ, or an error naming both when cfg is of another type (a programming
// error: the configuration comes from the registration's NewConfig).
func ConfigAs[C Config](typ string, cfg Config) (C, error) {
	c, ok := cfg.(C)
	if !ok {
		return c, fmt.Errorf("%s: unexpected configuration type %T", typ, cfg)
	}
	return c, nil
}

// Infallible adapts a builder that cannot fail to the builders the
// Register functions take.
func Infallible[C Config, R any](build func(Context, C) R) func(Context, C) (R, error) {
	return func(ctx Context, c C) (R, error) { return build(ctx, c), nil }
}
