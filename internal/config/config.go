// Package config loads drover's HCL configuration: global settings and the
// topology of sources, transforms and sinks. Loading decodes every block
// strictly (unknown blocks and attributes are errors), fills defaults,
// validates each component and the wiring between them, and reports every
// problem with the file, line and attribute at fault.
package config

import (
	"encoding/json"
	"fmt"
	"net"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/health"
	"github.com/drover-dev/drover/internal/metrics"
)

// Config is a loaded, validated configuration.
type Config struct {
	// Path names the files the configuration came from, for messages: one
	// file name, or several joined with ", ".
	Path string
	// Files are the files the configuration came from, in the order they
	// were merged.
	Files []string

	DataDir         string        `hcl:"data_dir"`
	ShutdownTimeout time.Duration `hcl:"shutdown_timeout"`
	Log             Log           `hcl:"log,block"`
	Admin           Admin         `hcl:"admin,block"`
	Health          Health        `hcl:"health,block"`
	Metrics         Metrics       `hcl:"metrics,block"`

	// Components in the order they appear, sources first, then transforms,
	// then sinks.
	Components []*Component

	// Secrets are the secret values the configuration holds (passwords,
	// tokens, what file() read, the admin token): what logs, errors and
	// dumps must not show (see internal/secret).
	Secrets []string
}

// Log configures drover's own log output.
type Log struct {
	Level  string `hcl:"level" enum:"debug,info,warn,error"`
	Format string `hcl:"format" enum:"text,json"`
}

// Admin configures the HTTP endpoint with /metrics, /health, /ready and
// /api/v1/health.
type Admin struct {
	Enabled bool   `hcl:"enabled"`
	Address string `hcl:"address"`
	// Pprof also serves Go's runtime profiles (net/http/pprof) under
	// /debug/pprof/. Off by default: a profile costs CPU while it runs and
	// exposes internals to whoever reaches the address.
	Pprof bool `hcl:"pprof"`
	// TokenFile holds a bearer token: when set, every request must carry
	// "Authorization: Bearer <token>", except to the paths listed in
	// Unauthenticated. The file is read when the configuration is loaded
	// (at start and on every reload).
	TokenFile string `hcl:"token_file"`
	// Unauthenticated are the paths that stay open without the token
	// (AdminPaths lists those that may be): "/health" and "/ready" for an
	// orchestrator's checks, "/metrics" for a scraper without the token.
	Unauthenticated []string `hcl:"unauthenticated"`

	// Token is the content of TokenFile, without surrounding white space.
	Token string `json:"-"`
}

// Equal reports whether a and b configure the same endpoint.
func (a Admin) Equal(b Admin) bool {
	return a.Enabled == b.Enabled && a.Address == b.Address && a.Pprof == b.Pprof && a.TokenFile == b.TokenFile &&
		a.Token == b.Token && slices.Equal(a.Unauthenticated, b.Unauthenticated)
}

// AdminPaths are the admin endpoint's paths that admin.unauthenticated may
// open (the profiles under /debug/pprof/ never are).
var AdminPaths = []string{"/health", "/ready", "/metrics", "/api/v1/health"}

// Metrics configures drover's own metrics.
type Metrics struct {
	// FileSeriesLimit is how many files of each source get a
	// drover_file_bytes_behind series of their own; the others are summed
	// in one series with file="_other". 0 sums them all.
	FileSeriesLimit int `hcl:"file_series_limit"`
}

// Health is the readiness policy: when the conditions of the components
// make drover not ready (/ready answers 503) rather than degraded. See
// docs/operations.md.
type Health struct {
	// SinkFailingAfter: a sink that cannot deliver for longer than this
	// makes drover not ready.
	SinkFailingAfter time.Duration `hcl:"sink_failing_after"`
	// SourceFailingAfter: a source that cannot reach its API or read its
	// input for longer than this makes drover not ready.
	SourceFailingAfter time.Duration `hcl:"source_failing_after"`
	// DiscardRatio: a component that discards more than this fraction of
	// its events over DiscardWindow makes drover not ready; 0 turns the
	// rule off.
	DiscardRatio float64 `hcl:"discard_ratio"`
	// DiscardWindow is the period over which discards are counted.
	DiscardWindow time.Duration `hcl:"discard_window"`
	// DiscardMinEvents is the least number of discarded events in the
	// window for the ratio to count.
	DiscardMinEvents int `hcl:"discard_min_events"`
	// IgnoredDiscardReasons are discard reasons that are not a loss (the
	// configuration asked for them) and do not count.
	IgnoredDiscardReasons []string `hcl:"ignored_discard_reasons"`
}

// Policy returns the policy the health block describes.
func (h Health) Policy() health.Policy {
	return health.Policy{
		SinkFailingAfter:      h.SinkFailingAfter,
		SourceFailingAfter:    h.SourceFailingAfter,
		DiscardRatio:          h.DiscardRatio,
		DiscardWindow:         h.DiscardWindow,
		DiscardMinEvents:      h.DiscardMinEvents,
		IgnoredDiscardReasons: h.IgnoredDiscardReasons,
	}
}

// DefaultIgnoredDiscardReasons are the discard reasons that are the
// configuration at work, not a loss: a filter, an exclusion, the
// de-duplication of a resumed stream.
var DefaultIgnoredDiscardReasons = []string{"filtered", "excluded", "duplicate"}

func defaultHealth() Health {
	return Health{
		SinkFailingAfter:      time.Minute,
		SourceFailingAfter:    5 * time.Minute,
		DiscardRatio:          0.1,
		DiscardWindow:         5 * time.Minute,
		DiscardMinEvents:      100,
		IgnoredDiscardReasons: slices.Clone(DefaultIgnoredDiscardReasons),
	}
}

func validateHealth(h Health, ranges Ranges) hcl.Diagnostics {
	var diags hcl.Diagnostics
	fail := func(field, msg string) {
		diags = append(diags, fieldDiag(ranges, "", "health."+field, msg, hcl.Range{}))
	}
	if h.DiscardRatio < 0 || h.DiscardRatio >= 1 {
		fail("discard_ratio", "must be at least 0 (0 turns the rule off) and less than 1")
	}
	if h.DiscardWindow < time.Second {
		fail("discard_window", "must be at least 1s")
	}
	if h.DiscardMinEvents < 1 {
		fail("discard_min_events", "must be at least 1")
	}
	return diags
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

// defaultAdminPort is the admin endpoint's port: not Vector's API port
// (8686), since operators run both while they move from one to the other.
const defaultAdminPort = "7688"

// Defaults of the global settings.
const (
	DefaultDataDir         = "/var/lib/drover"
	DefaultShutdownTimeout = 30 * time.Second
	DefaultAdminAddress    = "127.0.0.1:" + defaultAdminPort
	DefaultBufferMaxEvents = 10000
	// DefaultBufferMaxSize and DefaultFsyncInterval apply to disk buffers.
	DefaultBufferMaxSize = ByteSize(1 << 30)
	DefaultFsyncInterval = 500 * time.Millisecond
	minDiskBufferSize    = ByteSize(1 << 20)
	maxFsyncInterval     = time.Minute
)

// Environment variables that replace a built-in default. A value in the
// configuration file wins over them.
const (
	EnvDataDir      = "DROVER_DATA_DIR"
	EnvAdminAddress = "DROVER_ADMIN_ADDRESS"
)

// defaults returns the global settings before the file is decoded: the
// built-in defaults, or the environment's where it sets them.
func defaults(lookupEnv func(string) (string, bool)) *Config {
	cfg := &Config{
		DataDir:         DefaultDataDir,
		ShutdownTimeout: DefaultShutdownTimeout,
		Log:             Log{Level: "info", Format: "text"},
		Admin:           Admin{Enabled: true, Address: DefaultAdminAddress},
		Health:          defaultHealth(),
		Metrics:         Metrics{FileSeriesLimit: metrics.DefaultFileSeriesLimit},
	}
	if v, ok := lookupEnv(EnvDataDir); ok && v != "" {
		cfg.DataDir = v
	}
	if v, ok := lookupEnv(EnvAdminAddress); ok && v != "" {
		cfg.Admin.Address = v
	}
	return cfg
}

// CheckListenAddress checks that addr is a TCP listen address: host:port
// with a port from 0 to 65535 (0 picks a free one) and a host that is
// empty (every interface), an IP address or a host name.
func CheckListenAddress(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf(`want host:port such as "127.0.0.1:%s" (%v)`, defaultAdminPort, err)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("the port %q is not a number from 0 to 65535", port)
	}
	if host == "" || net.ParseIP(host) != nil || strings.Contains(host, "%") { // "%": an IPv6 zone
		return nil
	}
	for _, label := range strings.Split(strings.TrimSuffix(host, "."), ".") {
		ok := label != "" && len(label) <= 63
		for _, r := range label {
			ok = ok && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
		}
		if !ok {
			return fmt.Errorf("the host %q is neither an IP address nor a host name", host)
		}
	}
	return nil
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
