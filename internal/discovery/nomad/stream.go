package nomad

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/nomad/api"
)

// The API client decodes a response with json.Decoder.Decode, which reads
// the whole body into one buffer first: for a node of 5000 allocations,
// tens of MB that double as they grow, the largest memory peak of a node
// agent. The watcher's own client reads the list one allocation at a time
// instead; it needs the response's X-Nomad-Index, which the client's
// body-only call does not return, so its transport hands the headers of a
// request to the caller that asked for them (headerTap).

// headersKey is the context key of a *http.Header that headerTap fills.
type headersKey struct{}

// headerTap is an http.RoundTripper that stores the response headers of a
// request whose context holds a *http.Header under headersKey.
type headerTap struct{ base http.RoundTripper }

// RoundTrip sends the request with the base transport.
func (t headerTap) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if h, ok := req.Context().Value(headersKey{}).(*http.Header); ok && resp != nil {
		*h = resp.Header
	}
	return resp, err
}

// CloseIdleConnections closes the base transport's idle connections
// (api.Client.Close).
func (t headerTap) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// newStreamingClient returns a client for cfg whose transport is a
// headerTap, configured as api.NewClient configures its default one. It
// returns false for an address it does not handle (a unix socket): the
// caller then uses api.NewClient.
func newStreamingClient(cfg *api.Config) (*api.Client, bool, error) {
	if strings.HasPrefix(cfg.Address, "unix:") || cfg.HttpClient != nil {
		return nil, false, nil
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSHandshakeTimeout = 10 * time.Second
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	tr.ForceAttemptHTTP2 = false
	hc := &http.Client{Transport: tr}
	if cfg.TLSConfig != nil {
		if err := api.ConfigureTLS(hc, cfg.TLSConfig); err != nil {
			return nil, false, fmt.Errorf("configuring TLS for the Nomad API at %s: %w", cfg.Address, err)
		}
	}
	hc.Transport = headerTap{base: hc.Transport}
	c := *cfg
	c.HttpClient = hc
	client, err := api.NewClient(&c)
	if err != nil {
		return nil, false, fmt.Errorf("creating Nomad client for %s: %w", cfg.Address, err)
	}
	return client, true, nil
}

// streamAllocations reads the allocation list at path one allocation at a
// time, with the client's own request options and error handling.
func streamAllocations(client *api.Client, path string, q *api.QueryOptions) ([]*api.Allocation, *api.QueryMeta, error) {
	var h http.Header
	q = q.WithContext(context.WithValue(q.Context(), headersKey{}, &h))
	body, err := client.Raw().Response(path, q)
	if err != nil {
		return nil, nil, err
	}
	defer body.Close()
	meta := &api.QueryMeta{}
	if v := h.Get("X-Nomad-Index"); v != "" {
		if meta.LastIndex, err = strconv.ParseUint(v, 10, 64); err != nil {
			return nil, nil, fmt.Errorf("bad X-Nomad-Index %q: %w", v, err)
		}
	}
	meta.KnownLeader = h.Get("X-Nomad-KnownLeader") == "true"
	slim, err := decodeList(body)
	if err != nil {
		return nil, nil, err
	}
	return allocations(slim), meta, nil
}

// decodeList decodes a JSON array of allocations (or null) one element at
// a time.
func decodeList(r io.Reader) ([]*slimAlloc, error) {
	dec := json.NewDecoder(r)
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("decoding the allocation list: %w", err)
	}
	var out []*slimAlloc
	if tok != nil { // null is an empty list
		if d, ok := tok.(json.Delim); !ok || d != '[' {
			return nil, fmt.Errorf("decoding the allocation list: want an array, got %v", tok)
		}
		for dec.More() {
			a := new(slimAlloc)
			if err := dec.Decode(a); err != nil {
				return nil, fmt.Errorf("decoding the allocation list: %w", err)
			}
			out = append(out, a)
		}
		if _, err := dec.Token(); err != nil {
			return nil, fmt.Errorf("decoding the allocation list: %w", err)
		}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("decoding the allocation list: data after the array")
	}
	return out, nil
}
