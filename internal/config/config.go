// Package config loads drover's HCL configuration: global settings and the
// topology of sources, transforms and sinks. Loading decodes every block
// strictly (unknown blocks and attributes are errors), fills defaults,
// validates each component and the wiring between them, and reports every
// problem with the file, line and attribute at fault.
package config

import (
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/drover-dev/drover/internal/component"
)

// Config is a loaded, validated configuration.
type Config struct {
	// Path is the file the configuration came from ("" for the built-in default).
	Path string

	DataDir         string        `hcl:"data_dir"`
	ShutdownTimeout time.Duration `hcl:"shutdown_timeout"`
	Log             Log           `hcl:"log,block"`
	Admin           Admin         `hcl:"admin,block"`

	// Components in the order they appear, sources first, then transforms,
	// then sinks.
	Components []*Component
}

// Log configures drover's own log output.
type Log struct {
	Level  string `hcl:"level" enum:"debug,info,warn,error"`
	Format string `hcl:"format" enum:"text,json"`
}

// Admin configures the HTTP endpoint with /metrics, /health and /ready.
type Admin struct {
	Enabled bool   `hcl:"enabled"`
	Address string `hcl:"address"`
	// Pprof also serves Go's runtime profiles (net/http/pprof) under
	// /debug/pprof/. Off by default: a profile costs CPU while it runs and
	// exposes internals to whoever reaches the address.
	Pprof bool `hcl:"pprof"`
}

// Buffer configures the buffer in front of a sink: memory (bounded in
// events) or disk (bounded in bytes, survives restarts and long outages).
type Buffer struct {
	Type string `hcl:"type" enum:"memory,disk"`
	// MaxEvents bounds a memory buffer.
	MaxEvents int `hcl:"max_events"`
	// MaxSize bounds a disk buffer's files.
	MaxSize ByteSize `hcl:"max_size"`
	// WhenFull is what happens to a batch that does not fit: wait for room
	// (backpressure) or discard it, counted.
	WhenFull string `hcl:"when_full" enum:"block,drop_newest"`
	// FsyncInterval is the least time between two fsyncs of a disk buffer;
	// 0 syncs after every write.
	FsyncInterval time.Duration `hcl:"fsync_interval"`
}

// Defaults of the global settings.
const (
	DefaultDataDir         = "/var/lib/drover"
	DefaultShutdownTimeout = 30 * time.Second
	DefaultAdminAddress    = "127.0.0.1:8686"
	DefaultBufferMaxEvents = 10000
	// DefaultBufferMaxSize and DefaultFsyncInterval apply to disk buffers.
	DefaultBufferMaxSize = ByteSize(1 << 30)
	DefaultFsyncInterval = 500 * time.Millisecond
	minDiskBufferSize    = ByteSize(1 << 20)
	maxFsyncInterval     = time.Minute
)

func defaults() *Config {
	return &Config{
		DataDir:         DefaultDataDir,
		ShutdownTimeout: DefaultShutdownTimeout,
		Log:             Log{Level: "info", Format: "text"},
		Admin:           Admin{Enabled: true, Address: DefaultAdminAddress},
	}
}

func defaultBuffer() Buffer {
	return Buffer{Type: "memory", MaxEvents: DefaultBufferMaxEvents, MaxSize: DefaultBufferMaxSize,
		WhenFull: "block", FsyncInterval: DefaultFsyncInterval}
}

// validateBuffer checks a sink's buffer block. ranges tell which attributes
// were written: an attribute of the other buffer type is an error rather
// than silently ignored.
func validateBuffer(b Buffer, ranges Ranges, def hcl.Range) hcl.Diagnostics {
	var diags hcl.Diagnostics
	fail := func(field, msg string) { diags = append(diags, fieldDiag(ranges, "", "buffer."+field, msg, def)) }
	_, setMaxEvents := ranges["buffer.max_events"]
	_, setMaxSize := ranges["buffer.max_size"]
	_, setFsync := ranges["buffer.fsync_interval"]
	switch b.Type {
	case "disk":
		if setMaxEvents {
			fail("max_events", `applies to memory buffers; a disk buffer is bounded by max_size`)
		}
		if b.MaxSize < minDiskBufferSize {
			fail("max_size", "must be at least "+minDiskBufferSize.String())
		}
		if b.FsyncInterval > maxFsyncInterval {
			fail("fsync_interval", "must be at most "+maxFsyncInterval.String()+" (batches are acknowledged to their source only once synced)")
		}
	default:
		if b.MaxEvents <= 0 {
			fail("max_events", "must be greater than zero")
		}
		if setMaxSize {
			fail("max_size", `applies to disk buffers (type = "disk"); a memory buffer is bounded by max_events`)
		}
		if setFsync {
			fail("fsync_interval", `applies to disk buffers (type = "disk")`)
		}
	}
	return diags
}

// Component is one source, transform or sink block.
type Component struct {
	Kind component.Kind
	Type string
	ID   string
	// Inputs are the outputs this component reads from, with wildcards
	// expanded: a source's or transform's id for its default output,
	// "<id>.<name>" for a named output; empty for sources.
	Inputs []string
	// Outputs are the component's named outputs (Registration.Outputs),
	// consumed as "<id>.<name>".
	Outputs []string
	// Buffer is the queue in front of a sink; zero for other kinds.
	Buffer Buffer
	// Config is the type's decoded and validated configuration.
	Config component.Config
	// Registration is the type's registration.
	Registration component.Registration
	// DefRange is where the block is declared.
	DefRange hcl.Range

	fingerprint string
}

// Fingerprint is a canonical rendering of everything that defines the
// component. Two components with equal fingerprints behave the same, so a
// reload keeps a running component whose fingerprint did not change.
func (c *Component) Fingerprint() string { return c.fingerprint }

// Sources returns the source components.
func (c *Config) Sources() []*Component { return c.ofKind(component.KindSource) }

// Transforms returns the transform components.
func (c *Config) Transforms() []*Component { return c.ofKind(component.KindTransform) }

// Sinks returns the sink components.
func (c *Config) Sinks() []*Component { return c.ofKind(component.KindSink) }

func (c *Config) ofKind(k component.Kind) []*Component {
	var out []*Component
	for _, comp := range c.Components {
		if comp.Kind == k {
			out = append(out, comp)
		}
	}
	return out
}

// Consumers returns, for every output (a source's or transform's id, or
// "<id>.<name>" of a named output), the ids of the components that read
// from it, in configuration order.
func (c *Config) Consumers() map[string][]string {
	out := map[string][]string{}
	for _, comp := range c.Components {
		for _, in := range comp.Inputs {
			out[in] = append(out[in], comp.ID)
		}
	}
	return out
}

// Producers lists every output of the configuration: the ids of sources and
// transforms (their default outputs) and "<id>.<name>" for every named
// output of any component, in configuration order.
func (c *Config) Producers() []string { return producers(c.Components) }

func producers(comps []*Component) []string {
	var out []string
	for _, comp := range comps {
		if comp.Kind != component.KindSink {
			out = append(out, comp.ID)
		}
		for _, o := range comp.Outputs {
			out = append(out, comp.ID+"."+o)
		}
	}
	return out
}

// OutputOwner returns the id of the component that owns the output name
// (the part before the first dot).
func OutputOwner(name string) string {
	if i := strings.IndexByte(name, '.'); i >= 0 {
		return name[:i]
	}
	return name
}

// Component returns the component with the given id, or nil.
func (c *Config) Component(id string) *Component {
	for _, comp := range c.Components {
		if comp.ID == id {
			return comp
		}
	}
	return nil
}

func fingerprint(comp *Component) string {
	b, err := json.Marshal(struct {
		Kind    component.Kind
		Type    string
		Inputs  []string
		Outputs []string
		Buffer  Buffer
		Config  any
	}{comp.Kind, comp.Type, comp.Inputs, comp.Outputs, comp.Buffer, comp.Config})
	if err != nil {
		// Config structs hold plain data; a failure is a programming error,
		// and a unique fingerprint keeps reload on the safe side (rebuild).
		return fmt.Sprintf("%p", comp)
	}
	return string(b)
}

// resolveInputs expands wildcards in inputs and checks that every input
// names a source or transform.
func resolveInputs(comp *Component, producers []string, inputRange hcl.Range) hcl.Diagnostics {
	var diags hcl.Diagnostics
	seen := map[string]bool{}
	var out []string
	for _, in := range comp.Inputs {
		var matched []string
		if strings.ContainsAny(in, "*?[") {
			if _, err := path.Match(in, ""); err != nil {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Invalid input pattern",
					Detail:   fmt.Sprintf("In %s %q, the input pattern %q is malformed: %s.", comp.Kind, comp.ID, in, err),
					Subject:  inputRange.Ptr(),
				})
				continue
			}
			// A pattern without a dot matches default outputs only: "*"
			// must not pull a sink's dead letters or a route's outputs in.
			dotted := strings.Contains(in, ".")
			for _, p := range producers {
				if strings.Contains(p, ".") != dotted {
					continue
				}
				if ok, _ := path.Match(in, p); ok && OutputOwner(p) != comp.ID {
					matched = append(matched, p)
				}
			}
		} else if OutputOwner(in) == comp.ID {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Component reads from itself",
				Detail:   fmt.Sprintf("%s %q lists itself in inputs.", comp.Kind, comp.ID),
				Subject:  inputRange.Ptr(),
			})
			continue
		} else {
			for _, p := range producers {
				if p == in {
					matched = append(matched, p)
				}
			}
		}
		if len(matched) == 0 {
			detail := fmt.Sprintf("%s %q reads from %q, but no source or transform has that name.", capitalize(string(comp.Kind)), comp.ID, in)
			if strings.Contains(in, ".") {
				detail = fmt.Sprintf("%s %q reads from %q, but no component has that output.", capitalize(string(comp.Kind)), comp.ID, in)
			}
			if len(producers) > 0 {
				sorted := append([]string(nil), producers...)
				sort.Strings(sorted)
				detail += " Known: " + strings.Join(sorted, ", ") + "."
			}
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Unknown input",
				Detail:   detail,
				Subject:  inputRange.Ptr(),
			})
			continue
		}
		for _, m := range matched {
			if !seen[m] {
				seen[m] = true
				out = append(out, m)
			}
		}
	}
	comp.Inputs = out
	return diags
}
