package nomadevents

import (
	"errors"
	"fmt"
	"github.com/drover-dev/drover/internal/nomadclient"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/drover-dev/drover/internal/config"
)

// Config is the configuration of a nomad_events source:
//
//	source "nomad_events" "cluster" {
//	  nomad { address = "https://nomad.example:4646" }
//	  topics    = ["Job", "Allocation", "Deployment", "Evaluation", "Node"]
//	  namespace = "*"
//	  start_at  = "oldest"
//	  resync    = false
//	}
//
// docs/components/source-nomad_events.md documents every option.
type Config struct {
	// Nomad is how to reach the Nomad HTTP API.
	Nomad ClientConfig `hcl:"nomad,block"`
	// Topics are the subscribed topics, each "Topic" or "Topic:FilterKey"
	// (Nomad matches the filter key against an event's Key and FilterKeys,
	// for example a job ID). "*" subscribes to every topic.
	Topics []string `hcl:"topics"`
	// Namespace limits the events to one namespace; "*" is every namespace.
	// Node events have no namespace and always arrive.
	Namespace string `hcl:"namespace"`
	// StartAt is where a source without a stored cursor starts: "oldest"
	// (everything Nomad still buffers), "now" (only events published after
	// the start) or "index:N" (from Raft index N, inclusive).
	StartAt string `hcl:"start_at"`
	// Resync, when a gap is detected, emits the current state (allocations,
	// jobs, nodes, deployments of the subscribed topics) as synthetic
	// events of type "Snapshot" with synthetic=true.
	Resync bool `hcl:"resync"`
	// HeartbeatTimeout is how long the stream may stay silent while drover
	// waits for data before the connection counts as dead. Nomad sends a
	// heartbeat every 30s.
	HeartbeatTimeout time.Duration `hcl:"heartbeat_timeout"`
	// ReconnectInitialBackoff is the first pause before connecting again;
	// it doubles, with jitter, up to ReconnectMaxBackoff.
	ReconnectInitialBackoff time.Duration `hcl:"reconnect_initial_backoff"`
	ReconnectMaxBackoff     time.Duration `hcl:"reconnect_max_backoff"`
	// RegressionGrace is how long a stream that starts below the cursor's
	// index is retried before the cursor is reset. An agent that restarted
	// with its data dir sends old indexes while it rebuilds its buffer from
	// the Raft log; a -dev agent or a restored cluster really went back.
	RegressionGrace time.Duration `hcl:"regression_grace"`
	// CheckpointInterval is how often a changed cursor is saved.
	CheckpointInterval time.Duration `hcl:"checkpoint_interval"`
	// MaxFrameBytes is the longest stream line (all events of one index)
	// drover holds in memory; a longer one is discarded and counted.
	MaxFrameBytes config.ByteSize `hcl:"max_frame_bytes"`
}

// ClientConfig is the `nomad` block shared by every Nomad-facing component
// (see internal/nomadclient).
type ClientConfig = nomadclient.Config

// Defaults.
const (
	DefaultNamespace               = "*"
	DefaultStartAt                 = StartOldest
	DefaultHeartbeatTimeout        = 90 * time.Second
	DefaultReconnectInitialBackoff = time.Second
	DefaultReconnectMaxBackoff     = time.Minute
	DefaultRegressionGrace         = 30 * time.Second
	DefaultCheckpointInterval      = time.Second
	DefaultMaxFrameBytes           = config.ByteSize(64 << 20)

	// nomadHeartbeat is the interval of Nomad's keep-alive lines.
	nomadHeartbeat = 30 * time.Second
	// maxMaxFrameBytes bounds max_frame_bytes: a frame is held in memory
	// until every sink has it.
	maxMaxFrameBytes = config.ByteSize(1 << 30)
)

// The values of start_at besides "index:N".
const (
	StartOldest = "oldest"
	StartNow    = "now"
)

// DefaultTopics are the topics subscribed when the configuration names none.
var DefaultTopics = []string{"Job", "Allocation", "Deployment", "Evaluation", "Node"}

// NewConfig returns a Config holding the defaults.
func NewConfig() *Config {
	return &Config{
		Topics:                  append([]string(nil), DefaultTopics...),
		Namespace:               DefaultNamespace,
		StartAt:                 DefaultStartAt,
		HeartbeatTimeout:        DefaultHeartbeatTimeout,
		ReconnectInitialBackoff: DefaultReconnectInitialBackoff,
		ReconnectMaxBackoff:     DefaultReconnectMaxBackoff,
		RegressionGrace:         DefaultRegressionGrace,
		CheckpointInterval:      DefaultCheckpointInterval,
		MaxFrameBytes:           DefaultMaxFrameBytes,
	}
}

// Validate checks the configuration. Errors are *config.FieldError, joined
// with errors.Join when there are several.
func (c *Config) Validate() error {
	var errs []error
	if err := config.Prefix("nomad", c.Nomad.Validate()); err != nil {
		errs = append(errs, err)
	}
	if len(c.Topics) == 0 {
		errs = append(errs, config.Errorf("topics", "at least one topic is required"))
	}
	for i, t := range c.Topics {
		if _, err := parseTopic(t); err != nil {
			errs = append(errs, config.Errorf("topics", "topic %d: %v", i+1, err))
		}
	}
	if c.Namespace == "" {
		errs = append(errs, config.Errorf("namespace", "must not be empty (\"*\" is every namespace)"))
	}
	if _, err := parseStartAt(c.StartAt); err != nil {
		errs = append(errs, config.Errorf("start_at", "%v", err))
	}
	if c.HeartbeatTimeout <= nomadHeartbeat {
		errs = append(errs, config.Errorf("heartbeat_timeout", "must be longer than Nomad's heartbeat interval (%s), got %s", nomadHeartbeat, c.HeartbeatTimeout))
	}
	if c.ReconnectInitialBackoff <= 0 {
		errs = append(errs, config.Errorf("reconnect_initial_backoff", "must be positive"))
	}
	if c.ReconnectMaxBackoff < c.ReconnectInitialBackoff {
		errs = append(errs, config.Errorf("reconnect_max_backoff", "must be at least reconnect_initial_backoff (%s), got %s", c.ReconnectInitialBackoff, c.ReconnectMaxBackoff))
	}
	if c.RegressionGrace < 0 {
		errs = append(errs, config.Errorf("regression_grace", "must not be negative"))
	}
	if c.CheckpointInterval <= 0 {
		errs = append(errs, config.Errorf("checkpoint_interval", "must be positive"))
	}
	if c.MaxFrameBytes < 64<<10 || c.MaxFrameBytes > maxMaxFrameBytes {
		errs = append(errs, config.Errorf("max_frame_bytes", "must be between 64KiB and %s, got %s", maxMaxFrameBytes, c.MaxFrameBytes))
	}
	return errors.Join(errs...)
}

// topicFilter is one subscribed topic with its filter key ("*" for all).
type topicFilter struct {
	Topic string
	Key   string
}

// parseTopic parses "Topic" or "Topic:Key" the way Nomad does.
func parseTopic(s string) (topicFilter, error) {
	parts := strings.Split(s, ":")
	switch {
	case len(parts) > 2:
		return topicFilter{}, fmt.Errorf("%q: want \"Topic\" or \"Topic:FilterKey\"", s)
	case parts[0] == "":
		return topicFilter{}, fmt.Errorf("%q: the topic name is empty", s)
	case len(parts) == 2 && parts[1] == "":
		return topicFilter{}, fmt.Errorf("%q: the filter key is empty", s)
	case len(parts) == 1:
		return topicFilter{Topic: s, Key: "*"}, nil
	}
	return topicFilter{Topic: parts[0], Key: parts[1]}, nil
}

// parseTopics parses every topic of a validated configuration.
func parseTopics(list []string) []topicFilter {
	out := make([]topicFilter, 0, len(list))
	for _, s := range list {
		if tf, err := parseTopic(s); err == nil {
			out = append(out, tf)
		}
	}
	return out
}

// subscriptionKey is a canonical rendering of what the stream delivers, kept
// with the cursor: a cursor is only exact for the subscription it was made
// with.
func subscriptionKey(topics []string, namespace string) string {
	sorted := append([]string(nil), topics...)
	sort.Strings(sorted)
	return "topics=" + strings.Join(sorted, ",") + ";namespace=" + namespace
}

// startPoint is a parsed start_at.
type startPoint struct {
	now   bool
	index uint64 // 0 for "oldest"
}

func parseStartAt(s string) (startPoint, error) {
	switch s {
	case StartOldest:
		return startPoint{}, nil
	case StartNow:
		return startPoint{now: true}, nil
	}
	if rest, ok := strings.CutPrefix(s, "index:"); ok {
		n, err := strconv.ParseUint(rest, 10, 64)
		if err != nil || n == 0 {
			return startPoint{}, fmt.Errorf("%q: the index must be a positive integer", s)
		}
		return startPoint{index: n}, nil
	}
	return startPoint{}, fmt.Errorf("want \"oldest\", \"now\" or \"index:N\", got %q", s)
}
