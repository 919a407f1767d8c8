package elasticsearch

import (
	"strings"

	"github.com/drover-dev/drover/internal/config"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/httpclient"
	"github.com/drover-dev/drover/internal/sink/batch"
	"github.com/drover-dev/drover/internal/sink/driver"
	"github.com/drover-dev/drover/internal/sink/healthcheck"
	"github.com/drover-dev/drover/internal/template"
)

// Config is the configuration of a `sink "elasticsearch"` block.
type Config struct {
	// Endpoint is the cluster's base URL, http:// or https://, optionally
	// with a path prefix ("https://proxy.example/es").
	Endpoint string `hcl:"endpoint,required"`
	// Mode is "bulk" (documents go to Index with Action) or "data_stream"
	// (documents are created in the data stream DataStream names).
	Mode string `hcl:"mode" enum:"bulk,data_stream"`
	// Index is a template of the index name, bulk mode only.
	Index string `hcl:"index"`
	// DefaultIndex is the index of events for which Index refers to a
	// missing field.
	DefaultIndex string `hcl:"default_index"`
	// Action is the bulk action: "index" or "create"; "" is "index" in
	// bulk mode and "create" in data stream mode, which takes nothing else.
	Action string `hcl:"action" enum:"index,create"`
	// DataStream names the data stream in data_stream mode.
	DataStream DataStreamConfig `hcl:"data_stream,block"`
	// TimestampField is the key of the event's time in each document.
	TimestampField string `hcl:"timestamp_field"`
	// IDField, when set, is the dotted path of the event field whose
	// value becomes the document's _id; events without it get an id from
	// the cluster.
	IDField string `hcl:"id_field"`
	// Pipeline, when set, is the ingest pipeline of every request.
	Pipeline string `hcl:"pipeline"`
	// Compression is "gzip" (default) or "none".
	Compression string `hcl:"compression" enum:"gzip,none"`
	// DeadLetter is the former dead-letter file of this sink. Refused
	// documents go to the sink's dead-letter output now (consumed as
	// "<id>.dead_letter" by a file sink, for one); a configuration that
	// still has the block is refused with a message that says so.
	DeadLetter *DeadLetterConfig `hcl:"dead_letter,block"`
	// headers, connect_timeout and the auth and tls blocks.
	httpclient.Settings
	Batch       batch.Config         `hcl:"batch,block"`
	Request     driver.RequestConfig `hcl:"request,block"`
	Healthcheck HealthcheckConfig    `hcl:"healthcheck,block"`
}

// DataStreamConfig is the `data_stream` block: the data stream's name is
// "<type>-<dataset>-<namespace>", the naming scheme of Elastic's data
// streams, or Name when it is set.
type DataStreamConfig struct {
	// Type is the first part of the name: "logs" when empty.
	Type string `hcl:"type"`
	// Dataset is a template of the second part: "generic" when empty.
	Dataset string `hcl:"dataset"`
	// Namespace is a template of the third part: "default" when empty.
	Namespace string `hcl:"namespace"`
	// DefaultDataset and DefaultNamespace replace a part whose template
	// refers to a missing field.
	DefaultDataset   string `hcl:"default_dataset"`
	DefaultNamespace string `hcl:"default_namespace"`
	// Name is a template of the whole name, instead of the three parts.
	Name string `hcl:"name"`
	// DefaultName replaces Name when it refers to a missing field.
	DefaultName string `hcl:"default_name"`
}

// DeadLetterConfig is the former `dead_letter` block, kept so that a
// configuration that has it gets a message on what replaces it.
type DeadLetterConfig struct {
	Path     string          `hcl:"path"`
	MaxBytes config.ByteSize `hcl:"max_bytes"`
}

// HealthcheckConfig is the `healthcheck` block: GET / (cluster info) when
// the sink starts.
type HealthcheckConfig = healthcheck.Config

// Values of the enum options.
const (
	ModeBulk       = "bulk"
	ModeDataStream = "data_stream"

	ActionIndex  = "index"
	ActionCreate = "create"

	CompressionGzip = "gzip"
	CompressionNone = "none"
)

// Defaults.
const (
	DefaultIndex            = "drover"
	DefaultTimestampField   = "@timestamp"
	DefaultDataStreamType   = "logs"
	DefaultDataset          = "generic"
	DefaultNamespace        = "default"
	DefaultBatchMaxEvents   = 5000
	DefaultBatchMaxBytes    = config.ByteSize(10 << 20)
	defaultDataStreamName   = DefaultDataStreamType + "-" + DefaultDataset + "-" + DefaultNamespace
	maxIndexNameBytes       = 255
	forbiddenIndexNameBytes = `\/*?"<>| ,#:`
)

// NewConfig returns the defaults: bulk mode into index "drover" with the
// index action (create in data stream mode), gzip, @timestamp, batches of 5000 events or 10 MiB within
// 1s, four requests in flight, healthcheck GET / that is logged when it
// fails.
func NewConfig() *Config {
	return &Config{
		Mode:           ModeBulk,
		Index:          DefaultIndex,
		DefaultIndex:   DefaultIndex,
		TimestampField: DefaultTimestampField,
		Compression:    CompressionGzip,
		DataStream: DataStreamConfig{
			DefaultDataset:   DefaultDataset,
			DefaultNamespace: DefaultNamespace,
			DefaultName:      defaultDataStreamName,
		},
		Settings:    httpclient.DefaultSettings(),
		Batch:       batch.Config{MaxEvents: DefaultBatchMaxEvents, MaxBytes: DefaultBatchMaxBytes, Timeout: batch.DefaultTimeout},
		Request:     driver.DefaultRequestConfig(),
		Healthcheck: HealthcheckConfig{Enabled: true},
	}
}

// Validate checks the configuration; errors are *config.FieldError with the
// attribute's path in the block.
func (c *Config) Validate() error {
	if err := httpclient.ValidateBaseURL("endpoint", c.Endpoint); err != nil {
		return err
	}
	switch c.Mode {
	case ModeBulk:
		if err := validateName("index", c.Index, false); err != nil {
			return err
		}
		if err := validateName("default_index", c.DefaultIndex, true); err != nil {
			return err
		}
	case ModeDataStream:
		if err := c.DataStream.validate(); err != nil {
			return config.Prefix("data_stream", err)
		}
	default:
		return config.Errorf("mode", `must be "bulk" or "data_stream", got %q`, c.Mode)
	}
	switch c.Action {
	case "", ActionCreate:
	case ActionIndex:
		if c.Mode == ModeDataStream {
			return config.Errorf("action", `must be "create" in data_stream mode: data streams only take new documents`)
		}
	default:
		return config.Errorf("action", `must be "index" or "create", got %q`, c.Action)
	}
	if c.TimestampField == "" {
		return config.Errorf("timestamp_field", "must not be empty")
	}
	if c.Mode == ModeDataStream && c.TimestampField != DefaultTimestampField {
		return config.Errorf("timestamp_field", "must be %q in data_stream mode: data streams require it", DefaultTimestampField)
	}
	if c.TimestampField == "message" {
		return config.Errorf("timestamp_field", `must not be "message"`)
	}
	if c.IDField != "" {
		if _, err := template.Parse("{{ " + c.IDField + " }}"); err != nil {
			return config.Errorf("id_field", "%q is not a field path", c.IDField)
		}
	}
	if strings.ContainsFunc(c.Pipeline, isControl) {
		return config.Errorf("pipeline", "must not contain control characters")
	}
	switch c.Compression {
	case CompressionGzip, CompressionNone:
	default:
		return config.Errorf("compression", `must be "gzip" or "none", got %q`, c.Compression)
	}
	if c.DeadLetter != nil {
		return config.Errorf("dead_letter", `the dead_letter block is replaced by the sink's dead-letter output: `+
			`consume it with a file sink, sink "file" "es_refused" { inputs = ["<this sink's id>.dead_letter"] path = "..." } (see docs/delivery.md)`)
	}
	if err := c.clientOptions().Validate(); err != nil {
		return err
	}
	return driver.ValidateBlocks(c.Batch, c.Request)
}

func (d *DataStreamConfig) validate() error {
	if d.Name != "" {
		if d.Type != "" || d.Dataset != "" || d.Namespace != "" {
			return config.Errorf("name", "replaces type, dataset and namespace; set either name or those")
		}
		if err := validateName("name", d.Name, false); err != nil {
			return err
		}
		return validateName("default_name", d.DefaultName, true)
	}
	if err := validatePart("type", d.Type, true); err != nil {
		return err
	}
	for _, p := range []struct {
		field, value string
		constant     bool
	}{
		{"dataset", d.Dataset, false},
		{"namespace", d.Namespace, false},
		{"default_dataset", d.DefaultDataset, true},
		{"default_namespace", d.DefaultNamespace, true},
	} {
		if err := validatePart(p.field, p.value, p.constant); err != nil {
			return err
		}
	}
	if d.DefaultDataset == "" || d.DefaultNamespace == "" {
		return config.Errorf("default_dataset", "default_dataset and default_namespace must not be empty")
	}
	return nil
}

// validateName checks an index or data stream name template (or, when
// constant, a plain name): it must parse, and its literal text must be a
// valid lower-case name.
func validateName(field, s string, constant bool) error {
	if s == "" {
		return config.Errorf(field, "must not be empty")
	}
	lit := s
	if !constant {
		t, err := template.Parse(s)
		if err != nil {
			return config.Errorf(field, "%v", err)
		}
		lit = literal(t)
	}
	if lit != strings.ToLower(lit) {
		return config.Errorf(field, "%q must be lower case", s)
	}
	if i := strings.IndexAny(lit, forbiddenIndexNameBytes); i >= 0 {
		return config.Errorf(field, "%q must not contain %q", s, lit[i])
	}
	if strings.HasPrefix(lit, "-") || strings.HasPrefix(lit, "_") || strings.HasPrefix(lit, "+") {
		return config.Errorf(field, "%q must not start with '-', '_' or '+'", s)
	}
	if len(lit) > maxIndexNameBytes {
		return config.Errorf(field, "is longer than %d bytes", maxIndexNameBytes)
	}
	return nil
}

// validatePart checks a part of a data stream name; parts must not
// contain '-', which separates them.
func validatePart(field, s string, constant bool) error {
	if s == "" {
		return nil
	}
	if err := validateName(field, s, constant); err != nil {
		return err
	}
	lit := s
	if !constant {
		lit = literal(template.MustParse(s))
	}
	if strings.Contains(lit, "-") {
		return config.Errorf(field, "%q must not contain '-', which separates the parts of a data stream name", s)
	}
	return nil
}

// literal is the text of t without its field references.
func literal(t *template.Template) string {
	out, _ := t.Render(nil, &event.Event{})
	return string(out)
}

// action returns the effective bulk action.
func (c *Config) action() string {
	switch {
	case c.Action != "":
		return c.Action
	case c.Mode == ModeDataStream:
		return ActionCreate
	}
	return ActionIndex
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

func (c *Config) clientOptions() httpclient.Options {
	return c.Settings.Options(c.Request.Concurrency)
}
