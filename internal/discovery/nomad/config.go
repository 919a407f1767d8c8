package nomad

import (
	"errors"
	"net/url"
	"path/filepath"
	"time"

	"github.com/drover-dev/drover/internal/config"
)

// Config is the discovery part of a nomad_logs source:
//
//	nomad { address = "https://127.0.0.1:4646" }
//	node_id         = ""      # default: the local agent's node
//	alloc_dir       = ""      # default: what the agent reports
//	resync_interval = "5m"
//	include { namespaces = ["apps"] }
//	exclude { tasks = ["connect-proxy-*"] }
//
// Empty NodeID and AllocDir are asked from the agent (GET /v1/agent/self,
// which needs agent:read). Setting both avoids that request, and lets the
// source find log files while the agent is down at start.
type Config struct {
	// Nomad is how to reach the Nomad HTTP API.
	Nomad ClientConfig `hcl:"nomad,block"`
	// NodeID is the client node whose allocations are watched; default
	// the node of the agent at Nomad.Address (stats.client.node_id).
	NodeID string `hcl:"node_id"`
	// AllocDir is the directory that holds one directory per allocation;
	// default the agent's client.alloc_dir, or <data_dir>/alloc.
	AllocDir string `hcl:"alloc_dir"`
	// BlockingWait is the longest a blocking query waits for a change
	// (Nomad caps it at 10m and adds up to 1/16 of jitter).
	BlockingWait time.Duration `hcl:"blocking_wait"`
	// ResyncInterval is the period of a full, non-blocking re-read of the
	// node's allocations, compared against the known state.
	ResyncInterval time.Duration `hcl:"resync_interval"`
	// RetryInitialBackoff is the first wait after a failed request; it
	// doubles, with jitter, up to RetryMaxBackoff.
	RetryInitialBackoff time.Duration `hcl:"retry_initial_backoff"`
	RetryMaxBackoff     time.Duration `hcl:"retry_max_backoff"`
	// Include and Exclude select the namespaces, jobs, groups and tasks
	// whose logs are shipped (see Selection).
	Include Selection `hcl:"include,block"`
	Exclude Selection `hcl:"exclude,block"`
}

// Defaults of Config.
const (
	DefaultBlockingWait        = 5 * time.Minute
	DefaultResyncInterval      = 5 * time.Minute
	DefaultRetryInitialBackoff = time.Second
	DefaultRetryMaxBackoff     = time.Minute

	// maxBlockingWait is Nomad's own cap on a blocking query's wait.
	maxBlockingWait = 10 * time.Minute
	// minResyncInterval keeps a typo from turning resyncs into a busy loop
	// of full list requests.
	minResyncInterval = time.Second
)

// DefaultConfig returns a Config with the defaults: every other field empty
// (resolved from the environment and the agent at run time).
func DefaultConfig() Config {
	return Config{
		BlockingWait:        DefaultBlockingWait,
		ResyncInterval:      DefaultResyncInterval,
		RetryInitialBackoff: DefaultRetryInitialBackoff,
		RetryMaxBackoff:     DefaultRetryMaxBackoff,
	}
}

// Validate checks the configuration. Errors are *config.FieldError with
// paths relative to the block that holds the discovery settings
// ("nomad.address", "include.jobs", "resync_interval"), joined with
// errors.Join when there are several.
func (c *Config) Validate() error {
	var errs []error
	errs = appendErrs(errs, config.Prefix("nomad", c.Nomad.Validate()))
	if c.AllocDir != "" && !filepath.IsAbs(c.AllocDir) {
		errs = append(errs, config.Errorf("alloc_dir", "must be an absolute path, got %q", c.AllocDir))
	}
	if c.BlockingWait <= 0 || c.BlockingWait > maxBlockingWait {
		errs = append(errs, config.Errorf("blocking_wait", "must be positive and at most %s, got %s", maxBlockingWait, c.BlockingWait))
	}
	if c.ResyncInterval < minResyncInterval {
		errs = append(errs, config.Errorf("resync_interval", "must be at least %s, got %s", minResyncInterval, c.ResyncInterval))
	}
	if c.RetryInitialBackoff <= 0 {
		errs = append(errs, config.Errorf("retry_initial_backoff", "must be positive"))
	}
	if c.RetryMaxBackoff < c.RetryInitialBackoff {
		errs = append(errs, config.Errorf("retry_max_backoff", "must be at least retry_initial_backoff (%s), got %s", c.RetryInitialBackoff, c.RetryMaxBackoff))
	}
	errs = appendErrs(errs, config.Prefix("include", c.Include.Validate()))
	errs = appendErrs(errs, config.Prefix("exclude", c.Exclude.Validate()))
	return errors.Join(errs...)
}

// ClientConfig is the `nomad` block: how to reach the Nomad HTTP API. Every
// empty attribute falls back to the environment as the nomad CLI reads it
// (NOMAD_ADDR, NOMAD_TOKEN, NOMAD_REGION, NOMAD_NAMESPACE, NOMAD_CACERT,
// NOMAD_CAPATH, NOMAD_CLIENT_CERT, NOMAD_CLIENT_KEY, NOMAD_TLS_SERVER_NAME,
// NOMAD_SKIP_VERIFY, NOMAD_HTTP_AUTH), then to http://127.0.0.1:4646.
type ClientConfig struct {
	// Address is the agent's HTTP address: http://, https:// or unix://.
	Address string `hcl:"address"`
	// Token is the ACL token's secret ID. A node agent needs
	// agent:read (unless node_id and alloc_dir are set), node:read, and
	// namespace read-job on the namespaces to ship.
	Token string `hcl:"token"`
	// Region is sent with every request; default the agent's region.
	Region string `hcl:"region"`
	// Namespace is sent with every request. The node allocations endpoint
	// ignores it (it returns every namespace the token may read); it is
	// here for the components that share this block.
	Namespace     string `hcl:"namespace"`
	CAFile        string `hcl:"ca_file"`
	CAPath        string `hcl:"ca_path"`
	CertFile      string `hcl:"cert_file"`
	KeyFile       string `hcl:"key_file"`
	TLSServerName string `hcl:"tls_server_name"`
	// TLSSkipVerify turns certificate verification off. false leaves
	// NOMAD_SKIP_VERIFY in charge.
	TLSSkipVerify bool `hcl:"tls_skip_verify"`
}

// Validate checks the block; errors name the attribute.
func (c *ClientConfig) Validate() error {
	var errs []error
	if c.Address != "" {
		u, err := url.Parse(c.Address)
		switch {
		case err != nil:
			errs = append(errs, config.Errorf("address", "not a URL: %v", err))
		case u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "unix":
			errs = append(errs, config.Errorf("address", "must start with http://, https:// or unix://, got %q", c.Address))
		case u.Scheme != "unix" && u.Host == "":
			errs = append(errs, config.Errorf("address", "has no host: %q", c.Address))
		}
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		field := "key_file"
		if c.CertFile == "" {
			field = "cert_file"
		}
		errs = append(errs, config.Errorf(field, "cert_file and key_file must be set together"))
	}
	return errors.Join(errs...)
}

// appendErrs appends err to errs, flattening an errors.Join so that the
// loader sees every field error at the top level.
func appendErrs(errs []error, err error) []error {
	if err == nil {
		return errs
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			errs = appendErrs(errs, e)
		}
		return errs
	}
	return append(errs, err)
}
