package cloudwatchlogs

import (
	"net/url"
	"strings"

	"github.com/drover-dev/drover/internal/config"
	"github.com/drover-dev/drover/internal/sink/batch"
	"github.com/drover-dev/drover/internal/sink/driver"
	"github.com/drover-dev/drover/internal/sink/healthcheck"
	"github.com/drover-dev/drover/internal/template"
)

// Config is the configuration of a `sink "cloudwatch_logs"` block:
//
//	sink "cloudwatch_logs" "aws" {
//	  inputs      = ["host"]
//	  region      = "eu-west-1"
//	  group_name  = "/nomad/hosts"
//	  stream_name = "{{ host }}"
//	}
//
// docs/components/sink-cloudwatch_logs.md documents every option.
type Config struct {
	// Region is the AWS region; "" takes it from the standard chain
	// (AWS_REGION, AWS_DEFAULT_REGION, the shared config file's profile).
	Region string `hcl:"region"`
	// Endpoint replaces the service's endpoint (an http:// or https:// URL),
	// for tests, VPC endpoints and compatible services.
	Endpoint string `hcl:"endpoint"`
	// GroupName is a template of the log group of each event.
	GroupName string `hcl:"group_name,required"`
	// StreamName is a template of the log stream of each event.
	StreamName string `hcl:"stream_name,required"`
	// CreateMissingGroup creates a log group that does not exist when an
	// event is sent to it.
	CreateMissingGroup bool `hcl:"create_missing_group"`
	// CreateMissingStream creates a log stream that does not exist when an
	// event is sent to it.
	CreateMissingStream bool `hcl:"create_missing_stream"`
	// Encoding is how an event becomes its log message: "json" (the whole
	// event as a JSON object) or "text" (the message alone).
	Encoding string `hcl:"encoding" enum:"json,text"`
	// MaxEventBytes is the largest event, counted as CloudWatch counts it:
	// the message in UTF-8 plus 26 bytes. Longer messages are truncated.
	MaxEventBytes config.ByteSize `hcl:"max_event_bytes"`
	// Batch bounds a request: at most MaxRequestEvents events and
	// MaxRequestBytes bytes counted as the service counts them.
	Batch batch.Config `hcl:"batch,block"`
	// Request sets concurrency, the per-attempt timeout and retries.
	Request driver.RequestConfig `hcl:"request,block"`
	// Healthcheck is the check made when the sink starts.
	Healthcheck HealthcheckConfig `hcl:"healthcheck,block"`
}

// HealthcheckConfig is the `healthcheck` block: a DescribeLogGroups call
// made when the sink starts.
type HealthcheckConfig = healthcheck.Config

// Values of the enum options.
const (
	EncodingJSON = "json"
	EncodingText = "text"
)

// The service's limits (PutLogEvents).
const (
	// EventOverhead is what CloudWatch adds to each message when it counts
	// the size of a request.
	EventOverhead = 26
	// MaxRequestBytes is the largest request: messages plus overhead.
	MaxRequestBytes = 1 << 20
	// MaxRequestEvents is the most events in one request.
	MaxRequestEvents = 10000
	// maxEventBytes is the largest event the service takes (1 MB since
	// 2025; 256 KiB before and in some compatible services).
	maxEventBytes = MaxRequestBytes
	// maxNameBytes bounds group and stream names.
	maxNameBytes = 512
)

// Defaults.
const (
	DefaultMaxEventBytes = config.ByteSize(256 << 10)
	DefaultConcurrency   = 4
)

// NewConfig returns the defaults: groups and streams created on demand,
// JSON messages, events of up to 256 KiB, requests as large as the service
// takes (10,000 events, 1 MiB) sent after 1s, four in flight, healthcheck
// logged but not required.
func NewConfig() *Config {
	r := driver.DefaultRequestConfig()
	r.Concurrency = DefaultConcurrency
	return &Config{
		CreateMissingGroup:  true,
		CreateMissingStream: true,
		Encoding:            EncodingJSON,
		MaxEventBytes:       DefaultMaxEventBytes,
		Batch:               batch.Config{MaxEvents: MaxRequestEvents, MaxBytes: MaxRequestBytes, Timeout: batch.DefaultTimeout},
		Request:             r,
		Healthcheck:         HealthcheckConfig{Enabled: true},
	}
}

// Validate checks the configuration; errors are *config.FieldError.
func (c *Config) Validate() error {
	if c.Endpoint != "" {
		u, err := url.Parse(c.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return config.Errorf("endpoint", "must be an http:// or https:// URL with a host, got %q", c.Endpoint)
		}
	}
	if err := validateName("group_name", c.GroupName, validGroupByte); err != nil {
		return err
	}
	if err := validateName("stream_name", c.StreamName, validStreamByte); err != nil {
		return err
	}
	switch c.Encoding {
	case EncodingJSON, EncodingText:
	default:
		return config.Errorf("encoding", `must be "json" or "text", got %q`, c.Encoding)
	}
	if c.MaxEventBytes <= EventOverhead || c.MaxEventBytes > maxEventBytes {
		return config.Errorf("max_event_bytes", "must be more than %d bytes and at most %s, got %s",
			EventOverhead, config.ByteSize(maxEventBytes), c.MaxEventBytes)
	}
	if err := driver.ValidateBlocks(c.Batch, c.Request); err != nil {
		return err
	}
	if c.Batch.MaxEvents > MaxRequestEvents {
		return config.Errorf("batch.max_events", "must be at most %d (the service's limit), got %d", MaxRequestEvents, c.Batch.MaxEvents)
	}
	if c.Batch.MaxBytes > MaxRequestBytes {
		return config.Errorf("batch.max_bytes", "must be at most %s (the service's limit, counting 26 bytes per event), got %s",
			config.ByteSize(MaxRequestBytes), c.Batch.MaxBytes)
	}
	if c.Healthcheck.Required && !c.Healthcheck.Enabled {
		return config.Errorf("healthcheck.required", "needs healthcheck.enabled = true")
	}
	return nil
}

// validateName checks a group or stream name template: it must parse, and
// its literal text must hold only characters the service allows (rendered
// field values are cleaned when sent).
func validateName(field, s string, valid func(byte) bool) error {
	if strings.TrimSpace(s) == "" {
		return config.Errorf(field, "must not be empty")
	}
	t, err := template.Parse(s)
	if err != nil {
		return config.Errorf(field, "%v", err)
	}
	lit := literalText(t)
	for i := 0; i < len(lit); i++ {
		if !valid(lit[i]) {
			return config.Errorf(field, "holds %q, which CloudWatch Logs does not allow in this name", lit[i])
		}
	}
	if len(lit) > maxNameBytes {
		return config.Errorf(field, "is longer than %d bytes", maxNameBytes)
	}
	return nil
}

// literalText is the template's text without its field references.
func literalText(t *template.Template) string {
	s := t.String()
	var b strings.Builder
	for {
		open := strings.Index(s, "{{")
		if open < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:open])
		end := strings.Index(s[open:], "}}")
		s = s[open+end+2:]
	}
}

// validGroupByte reports whether c may appear in a log group name:
// letters, digits, '_', '-', '/', '.' and '#'.
func validGroupByte(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return c == '_' || c == '-' || c == '/' || c == '.' || c == '#'
}

// validStreamByte reports whether c may appear in a log stream name:
// anything but ':', '*' and control characters.
func validStreamByte(c byte) bool {
	return c != ':' && c != '*' && c >= 0x20 && c != 0x7f
}
