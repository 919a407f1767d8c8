package kafka

import (
	"regexp"
	"strings"
	"time"

	"github.com/drover-dev/drover/internal/config"
	"github.com/drover-dev/drover/internal/kafkaclient"
)

// Config is the configuration of a `source "kafka"` block.
type Config struct {
	// Config is the connection: brokers, client_id, connect_timeout,
	// sasl and tls, as in the kafka sink.
	kafkaclient.Config
	// Topics are the topics to consume. A name that starts with "^" is a
	// regular expression matched against every topic of the cluster (new
	// matching topics are picked up within topic_refresh_interval).
	Topics []string `hcl:"topics,required"`
	// GroupID is the consumer group: the aggregators of one tier share it
	// and split the partitions among themselves.
	GroupID string `hcl:"group_id,required"`
	// Decoding is how a record value becomes an event: "drover" (the
	// default: events as drover's json encoding writes them, restored with
	// their metadata), "json" or "text".
	Decoding string `hcl:"decoding" enum:"drover,json,text"`
	// RecordFields, when not empty, is the name of a field added to every
	// event with the record's topic, partition, offset, key, headers and
	// timestamp.
	RecordFields string `hcl:"record_fields"`
	// StartOffset is where a partition without a committed offset starts:
	// "earliest" (default) or "latest".
	StartOffset string `hcl:"start_offset" enum:"earliest,latest"`
	// CommitInterval is how often acknowledged offsets are committed.
	CommitInterval time.Duration `hcl:"commit_interval"`
	// RevokeTimeout bounds how long a revoked partition waits for its
	// emitted events to be acknowledged before it is released; it must be
	// less than rebalance_timeout.
	RevokeTimeout time.Duration `hcl:"revoke_timeout"`
	// SessionTimeout is how long the group waits for a member's heartbeat
	// before it gives the member's partitions to the others: how long the
	// partitions of an aggregator that died stand still.
	SessionTimeout time.Duration `hcl:"session_timeout"`
	// HeartbeatInterval is how often a member tells the group it lives.
	HeartbeatInterval time.Duration `hcl:"heartbeat_interval"`
	// RebalanceTimeout is how long the members may take to finish a
	// rebalance (revoke, commit, rejoin).
	RebalanceTimeout time.Duration `hcl:"rebalance_timeout"`
	// FetchMaxBytes bounds one fetch response; FetchMaxPartitionBytes the
	// part of it one partition may take. A record larger than both is
	// still fetched, alone.
	FetchMaxBytes          config.ByteSize `hcl:"fetch_max_bytes"`
	FetchMaxPartitionBytes config.ByteSize `hcl:"fetch_max_partition_bytes"`
	// MaxBatchEvents bounds the events of one emitted batch.
	MaxBatchEvents int `hcl:"max_batch_events"`
	// TopicRefreshInterval is how often the cluster's topics and partitions
	// are looked up again (new topics matching a pattern, new partitions).
	TopicRefreshInterval time.Duration `hcl:"topic_refresh_interval"`
	// RetryInitialBackoff and RetryMaxBackoff bound the client's delays
	// between retries of failed requests.
	RetryInitialBackoff time.Duration `hcl:"retry_initial_backoff"`
	RetryMaxBackoff     time.Duration `hcl:"retry_max_backoff"`
}

// Values of the enum options.
const (
	StartEarliest = "earliest"
	StartLatest   = "latest"
)

// Defaults.
const (
	DefaultCommitInterval         = time.Second
	DefaultRevokeTimeout          = 10 * time.Second
	DefaultSessionTimeout         = 10 * time.Second
	DefaultHeartbeatInterval      = 3 * time.Second
	DefaultRebalanceTimeout       = 60 * time.Second
	DefaultFetchMaxBytes          = config.ByteSize(16 << 20)
	DefaultFetchMaxPartitionBytes = config.ByteSize(1 << 20)
	DefaultMaxBatchEvents         = 1000
	DefaultTopicRefreshInterval   = 30 * time.Second
	DefaultRetryInitialBackoff    = 250 * time.Millisecond
	DefaultRetryMaxBackoff        = 10 * time.Second
)

// NewConfig returns the defaults.
func NewConfig() *Config {
	return &Config{
		Config:                 kafkaclient.Defaults(),
		Decoding:               DecodingDrover,
		StartOffset:            StartEarliest,
		CommitInterval:         DefaultCommitInterval,
		RevokeTimeout:          DefaultRevokeTimeout,
		SessionTimeout:         DefaultSessionTimeout,
		HeartbeatInterval:      DefaultHeartbeatInterval,
		RebalanceTimeout:       DefaultRebalanceTimeout,
		FetchMaxBytes:          DefaultFetchMaxBytes,
		FetchMaxPartitionBytes: DefaultFetchMaxPartitionBytes,
		MaxBatchEvents:         DefaultMaxBatchEvents,
		TopicRefreshInterval:   DefaultTopicRefreshInterval,
		RetryInitialBackoff:    DefaultRetryInitialBackoff,
		RetryMaxBackoff:        DefaultRetryMaxBackoff,
	}
}

// Validate checks the configuration; errors are *config.FieldError with the
// attribute's path in the block.
func (c *Config) Validate() error {
	if err := c.Config.Validate(); err != nil {
		return err
	}
	if len(c.Topics) == 0 {
		return config.Errorf("topics", "must name at least one topic")
	}
	for _, t := range c.Topics {
		if strings.HasPrefix(t, "^") {
			if _, err := regexp.Compile(t); err != nil {
				return config.Errorf("topics", "%q: %v", t, err)
			}
		} else if !kafkaclient.ValidTopic(t) {
			return config.Errorf("topics", "%q is not a valid Kafka topic name (letters, digits, '.', '_', '-'; at most 249) nor a pattern starting with '^'", t)
		}
	}
	switch c.Decoding {
	case DecodingDrover, DecodingJSON, DecodingText:
	default:
		return config.Errorf("decoding", `must be "drover", "json" or "text", got %q`, c.Decoding)
	}
	switch c.RecordFields {
	case "message", "timestamp", "truncated", "partial":
		return config.Errorf("record_fields", "%q is written by the event itself; choose another name such as \"kafka\"", c.RecordFields)
	}
	switch {
	case c.GroupID == "":
		return config.Errorf("group_id", "must not be empty")
	case c.StartOffset != StartEarliest && c.StartOffset != StartLatest:
		return config.Errorf("start_offset", `must be "earliest" or "latest", got %q`, c.StartOffset)
	case c.CommitInterval <= 0:
		return config.Errorf("commit_interval", "must be positive")
	case c.SessionTimeout < time.Second:
		return config.Errorf("session_timeout", "must be at least 1s, got %s", c.SessionTimeout)
	case c.HeartbeatInterval <= 0 || c.HeartbeatInterval >= c.SessionTimeout:
		return config.Errorf("heartbeat_interval", "must be positive and less than session_timeout (%s), got %s", c.SessionTimeout, c.HeartbeatInterval)
	case c.RebalanceTimeout < time.Second:
		return config.Errorf("rebalance_timeout", "must be at least 1s, got %s", c.RebalanceTimeout)
	case c.RevokeTimeout < 0 || c.RevokeTimeout >= c.RebalanceTimeout:
		return config.Errorf("revoke_timeout", "must be less than rebalance_timeout (%s), got %s", c.RebalanceTimeout, c.RevokeTimeout)
	case c.FetchMaxBytes < 1024 || c.FetchMaxBytes > 1<<30:
		return config.Errorf("fetch_max_bytes", "must be between 1KiB and 1GiB, got %s", c.FetchMaxBytes)
	case c.FetchMaxPartitionBytes < 1024 || c.FetchMaxPartitionBytes > c.FetchMaxBytes:
		return config.Errorf("fetch_max_partition_bytes", "must be between 1KiB and fetch_max_bytes (%s), got %s", c.FetchMaxBytes, c.FetchMaxPartitionBytes)
	case c.MaxBatchEvents < 1:
		return config.Errorf("max_batch_events", "must be at least 1, got %d", c.MaxBatchEvents)
	case c.TopicRefreshInterval < time.Second:
		return config.Errorf("topic_refresh_interval", "must be at least 1s, got %s", c.TopicRefreshInterval)
	case c.RetryInitialBackoff <= 0:
		return config.Errorf("retry_initial_backoff", "must be positive")
	case c.RetryMaxBackoff < c.RetryInitialBackoff:
		return config.Errorf("retry_max_backoff", "must not be less than retry_initial_backoff (%s), got %s", c.RetryInitialBackoff, c.RetryMaxBackoff)
	}
	return nil
}

// consumeTopics returns the topics to pass to franz-go and whether they are
// patterns: when any configured topic is a pattern, every name becomes an
// anchored pattern matching exactly itself.
func (c *Config) consumeTopics() ([]string, bool) {
	regex := false
	for _, t := range c.Topics {
		regex = regex || strings.HasPrefix(t, "^")
	}
	if !regex {
		return c.Topics, false
	}
	out := make([]string, len(c.Topics))
	for i, t := range c.Topics {
		if strings.HasPrefix(t, "^") {
			out[i] = t
		} else {
			out[i] = "^" + regexp.QuoteMeta(t) + "$"
		}
	}
	return out, true
}
