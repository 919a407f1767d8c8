package nomad

import (
	"fmt"

	"github.com/hashicorp/nomad/api"
)

// APIConfig returns the Nomad client configuration: api.DefaultConfig()
// (the NOMAD_* environment variables) overlaid by every non-empty attribute
// of the block.
func (c ClientConfig) APIConfig() *api.Config {
	cfg := api.DefaultConfig()
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&cfg.Address, c.Address)
	set(&cfg.SecretID, c.Token)
	set(&cfg.Region, c.Region)
	set(&cfg.Namespace, c.Namespace)
	set(&cfg.TLSConfig.CACert, c.CAFile)
	set(&cfg.TLSConfig.CAPath, c.CAPath)
	set(&cfg.TLSConfig.ClientCert, c.CertFile)
	set(&cfg.TLSConfig.ClientKey, c.KeyFile)
	set(&cfg.TLSConfig.TLSServerName, c.TLSServerName)
	if c.TLSSkipVerify {
		cfg.TLSConfig.Insecure = true
	}
	return cfg
}

// NewClient returns a Nomad API client for the block. It does not contact
// the agent; TLS files are read here, so a missing certificate is reported
// now.
func (c ClientConfig) NewClient() (*api.Client, error) {
	cfg := c.APIConfig()
	client, err := api.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("creating Nomad client for %s: %w", cfg.Address, err)
	}
	return client, nil
}
