package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/drover-dev/drover/internal/config"
	"github.com/drover-dev/drover/internal/status"
)

// Environment of the commands that ask a running drover (top, tap,
// explain).
const (
	envAdminToken     = "DROVER_ADMIN_TOKEN"
	envAdminTokenFile = "DROVER_ADMIN_TOKEN_FILE"
)

// adminEnvHelp lists the environment those commands read.
var adminEnvHelp = []string{
	config.EnvAdminAddress + "\tdefault of --address",
	envAdminTokenFile + "\tdefault of --token-file",
	envAdminToken + "\tthe admin token itself (admin.token_file of the running drover), when no token file is given",
}

// adminClient asks a running drover's admin endpoint.
type adminClient struct {
	base  string // http://host:port
	token string
	http  *http.Client
}

// adminFlags defines --address and --token-file on fs; the returned
// function builds the client once the flags are parsed.
func adminFlags(fs *flag.FlagSet) func() (*adminClient, error) {
	def := os.Getenv(config.EnvAdminAddress)
	if def == "" {
		def = config.DefaultAdminAddress
	}
	addr := fs.String("address", def, "the running drover's admin `ADDRESS` (host:port or URL)")
	tokenFile := fs.String("token-file", os.Getenv(envAdminTokenFile), "`FILE` holding the admin token, when the endpoint has one")
	return func() (*adminClient, error) {
		c := &adminClient{base: strings.TrimSuffix(*addr, "/"), http: &http.Client{}}
		if !strings.Contains(c.base, "://") {
			c.base = "http://" + c.base
		}
		if _, err := url.Parse(c.base); err != nil {
			return nil, fmt.Errorf("--address %q: %w", *addr, err)
		}
		c.token = strings.TrimSpace(os.Getenv(envAdminToken))
		if *tokenFile != "" {
			b, err := os.ReadFile(*tokenFile)
			if err != nil {
				return nil, fmt.Errorf("reading the admin token: %w", err)
			}
			c.token = strings.TrimSpace(string(b))
		}
		return c, nil
	}
}

// get sends a GET for path and returns the response when it is 200.
func (c *adminClient) get(ctx context.Context, path string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return nil, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("asking drover at %s: %w (is it running, with its admin endpoint there? see --address)", c.base, err)
	}
	if resp.StatusCode == http.StatusOK {
		return resp, nil
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	msg := strings.TrimSpace(string(body))
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		return nil, fmt.Errorf("drover at %s wants its admin token: give --token-file or %s", c.base, envAdminToken)
	case http.StatusNotFound:
		if strings.HasPrefix(msg, "404 page not found") {
			return nil, fmt.Errorf("drover at %s does not serve %s (an older version?)", c.base, path)
		}
	}
	return nil, fmt.Errorf("drover at %s answered %s: %s", c.base, resp.Status, msg)
}

// status fetches /api/v1/status.
func (c *adminClient) status(ctx context.Context) (status.Status, error) {
	var st status.Status
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := c.get(ctx, "/api/v1/status")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return st, fmt.Errorf("reading drover's status: %w", err)
	}
	return st, nil
}

// errUsage marks a usage error (exit 2).
var errUsage = errors.New("usage")

// envHelp lists the environment variables the command reads.
func (c command) envHelp() []string {
	switch {
	case c.env:
		return envHelp
	case c.admin:
		return adminEnvHelp
	}
	return nil
}
