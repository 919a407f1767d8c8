package nomad

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/hashicorp/nomad/api"
)

// ErrorKind classifies a failed Nomad API request. It is the "kind" label
// of drover_nomad_api_errors_total.
type ErrorKind string

// The kinds of API errors.
const (
	// KindUnreachable: no answer (connection refused, reset, cut in the
	// middle of a response, timeout, DNS, TLS handshake).
	KindUnreachable ErrorKind = "unreachable"
	// KindForbidden: 403, the token lacks a capability or is unknown.
	KindForbidden ErrorKind = "forbidden"
	// KindNotFound: 404, such as an unknown node id.
	KindNotFound ErrorKind = "not_found"
	// KindServer: 5xx or 429; the agent or its servers are in trouble.
	KindServer ErrorKind = "server_error"
	// KindBadResponse: a 200 whose body is not what the endpoint returns.
	KindBadResponse ErrorKind = "bad_response"
	// KindHTTP: any other unexpected status.
	KindHTTP ErrorKind = "http_status"
)

// APIError is a failed request to the Nomad API, with what drover was
// doing, the kind of failure and, for a 403, the ACL capability needed.
type APIError struct {
	// Op says what drover was doing: "reading the agent's configuration".
	Op string
	// Path is the request path, "/v1/agent/self".
	Path string
	Kind ErrorKind
	// Status is the HTTP status, 0 when there was no answer.
	Status int
	// Capability is the ACL capability the request needs, named in the
	// message of a 403.
	Capability string
	// Err is the error of the Nomad client.
	Err error
}

// Error says what failed, the request, and for a 403 the capability the
// token lacks (or that the token itself is unknown).
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (GET %s): ", e.Op, e.Path)
	switch e.Kind {
	case KindUnreachable:
		fmt.Fprintf(&b, "Nomad agent not reachable: %v", e.Err)
	case KindForbidden:
		if strings.Contains(strings.ToLower(errBody(e.Err)), "token not found") {
			fmt.Fprintf(&b, "permission denied: the Nomad token is unknown or expired (set nomad.token or NOMAD_TOKEN)")
		} else {
			fmt.Fprintf(&b, "permission denied: the Nomad token needs the ACL capability %s", e.Capability)
		}
	default:
		fmt.Fprintf(&b, "%v", e.Err)
	}
	return b.String()
}

// Unwrap returns the Nomad client's error.
func (e *APIError) Unwrap() error { return e.Err }

// Permanent reports whether retrying the same request cannot help until
// the configuration or the ACL policy changes (403, 404).
func (e *APIError) Permanent() bool { return e.Kind == KindForbidden || e.Kind == KindNotFound }

// errBody returns the response body carried by a Nomad client error.
func errBody(err error) string {
	var ue api.UnexpectedResponseError
	if errors.As(err, &ue) {
		return ue.Body()
	}
	return ""
}

// newAPIError classifies err, returned by the Nomad client for a request
// to path. It returns nil for nil and the context's error when ctx ended.
func newAPIError(ctx context.Context, op, path, capability string, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return &APIError{Op: op, Path: path, Kind: classify(err), Status: statusOf(err), Capability: capability, Err: err}
}

func statusOf(err error) int {
	var ue api.UnexpectedResponseError
	if errors.As(err, &ue) {
		return ue.StatusCode()
	}
	return 0
}

func classify(err error) ErrorKind {
	if st := statusOf(err); st != 0 {
		switch {
		case st == http.StatusForbidden:
			return KindForbidden
		case st == http.StatusNotFound:
			return KindNotFound
		case st >= 500 || st == http.StatusTooManyRequests:
			return KindServer
		}
		return KindHTTP
	}
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
		ue  *url.Error
		ne  net.Error
	)
	switch {
	case errors.As(err, &syn), errors.As(err, &typ):
		return KindBadResponse
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF),
		errors.As(err, &ue), errors.As(err, &ne):
		return KindUnreachable
	}
	return KindBadResponse
}

// kindOf returns the kind of an *APIError, or "" for other errors.
func kindOf(err error) ErrorKind {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Kind
	}
	return ""
}

// ErrNotClient is returned when node_id is not set and the agent at the
// configured address runs no client, so it has no node of its own.
var ErrNotClient = errors.New("the Nomad agent is not a client (no stats.client.node_id in /v1/agent/self): " +
	"point nomad.address at the client agent of this node, or set node_id")
