// Package nomadclient holds the `nomad` configuration block that every
// Nomad-facing component shares (the nomad_logs and nomad_events sources,
// Vector rendering) and builds the official API client from it.
package nomadclient

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/hashicorp/nomad/api"

	"github.com/drover-dev/drover/internal/config"
)

// Config is the `nomad` block: how to reach the Nomad HTTP API. Every empty
// attribute falls back to the environment as the nomad CLI reads it
// (NOMAD_ADDR, NOMAD_TOKEN, NOMAD_REGION, NOMAD_CACERT, NOMAD_CAPATH,
// NOMAD_CLIENT_CERT, NOMAD_CLIENT_KEY, NOMAD_TLS_SERVER_NAME,
// NOMAD_SKIP_VERIFY, NOMAD_HTTP_AUTH), then to http://127.0.0.1:4646.
//
// NOMAD_NAMESPACE is not used: Nomad sets it inside every task, drover runs
// as a task, and each component names the namespaces it wants itself.
type Config struct {
	// Address is the agent's HTTP address: http://, https:// or unix://.
	Address string `hcl:"address"`
	// Token is the ACL token's secret ID.
	Token string `hcl:"token"`
	// Region is sent with every request; default the agent's region.
	Region        string `hcl:"region"`
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
func (c *Config) Validate() error {
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

// APIConfig returns api.DefaultConfig() (the NOMAD_* environment) overlaid
// by every non-empty attribute of the block, with the namespace cleared.
func (c Config) APIConfig() *api.Config {
	cfg := api.DefaultConfig()
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&cfg.Address, c.Address)
	set(&cfg.SecretID, c.Token)
	set(&cfg.Region, c.Region)
	set(&cfg.TLSConfig.CACert, c.CAFile)
	set(&cfg.TLSConfig.CAPath, c.CAPath)
	set(&cfg.TLSConfig.ClientCert, c.CertFile)
	set(&cfg.TLSConfig.ClientKey, c.KeyFile)
	set(&cfg.TLSConfig.TLSServerName, c.TLSServerName)
	if c.TLSSkipVerify {
		cfg.TLSConfig.Insecure = true
	}
	cfg.Namespace = ""
	return cfg
}

// NewClient returns a Nomad API client for the block. It does not contact
// the agent; TLS files are read here, so a missing certificate is reported
// when the component is built.
func (c Config) NewClient() (*api.Client, error) {
	cfg := c.APIConfig()
	client, err := api.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("creating Nomad client for %s: %w", cfg.Address, err)
	}
	return client, nil
}

// Check contacts the agent: it must answer (GET /v1/status/leader, which
// needs no token) and, when a token is set and ACLs are on, know the token
// (GET /v1/acl/token/self). It does not check the token's policies: a
// component that lacks a capability reports it when it runs. drover
// validate --check calls it.
func (c Config) Check(ctx context.Context) error {
	client, err := c.NewClient()
	if err != nil {
		return err
	}
	cfg := c.APIConfig()
	q := (&api.QueryOptions{}).WithContext(ctx)
	var leader string
	if _, err := client.Raw().Query("/v1/status/leader", &leader, q); err != nil {
		return fmt.Errorf("cannot reach the Nomad API at %s: %w", cfg.Address, err)
	}
	if cfg.SecretID == "" {
		return nil
	}
	if _, _, err := client.ACLTokens().Self(q); err != nil {
		if strings.Contains(err.Error(), "ACL support disabled") {
			return nil
		}
		if strings.Contains(err.Error(), "403") {
			return fmt.Errorf("the Nomad API at %s does not accept the token (not found or expired): %w", cfg.Address, err)
		}
		return fmt.Errorf("checking the token with the Nomad API at %s: %w", cfg.Address, err)
	}
	return nil
}
