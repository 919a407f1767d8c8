package nomadevents

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hashicorp/nomad/api"
)

// The event stream is read through api.Client.Raw().Response instead of
// api.Client.EventStream().Stream, which cannot give what the source needs:
//
//   - Stream swallows the {} heartbeats, so a silent dead connection cannot
//     be told from an idle healthy one;
//   - its Event type has no Namespace and decodes the Payload into
//     map[string]any, which turns nanosecond times into float64 (losing
//     precision) and re-encodes the event differently from what Nomad sent;
//   - it decodes and allocates every payload in full even when the source
//     only needs a few fields.
//
// The raw request still goes through the official client, so addresses,
// TLS, tokens, regions and the NOMAD_* environment behave exactly as in the
// nomad CLI.

// readBufferSize is the size of the stream's read buffer. Lines longer than
// that are assembled in a separate buffer.
const readBufferSize = 64 << 10

// StatusError is a non-200 answer to the stream request.
type StatusError struct {
	Code int
	Body string
}

// permissionDenied reports an ACL refusal. Nomad (v1.6) answers 403 for an
// unknown token, but 500 "Permission denied" for a valid or anonymous token
// that lacks a capability the topics need.
func (e *StatusError) permissionDenied() bool {
	return e.Code == 403 || e.Code == 500 && strings.Contains(e.Body, "Permission denied")
}

func (e *StatusError) Error() string {
	if e.Body == "" {
		return fmt.Sprintf("Nomad answered %d", e.Code)
	}
	return fmt.Sprintf("Nomad answered %d: %s", e.Code, e.Body)
}

// errHeartbeatTimeout reports a stream that stayed silent for longer than
// heartbeat_timeout.
var errHeartbeatTimeout = errors.New("no data or heartbeat from Nomad within heartbeat_timeout; the connection is dead")

// frameTooLargeError reports a line longer than max_frame_bytes. Index is
// the frame's index when its tail could be read, else 0.
type frameTooLargeError struct {
	Size  int
	Index uint64
}

func (e *frameTooLargeError) Error() string {
	return fmt.Sprintf("stream line of %d bytes (index %d) exceeds max_frame_bytes", e.Size, e.Index)
}

// endError reports the end of a stream: EOF, a cut connection, or a final
// message Nomad appended after a failure (for example "event dropped from
// buffer"). Fragment is what followed the last complete line.
type endError struct {
	Err      error
	Fragment []byte
}

func (e *endError) Error() string {
	switch {
	case len(e.Fragment) > 0 && e.Fragment[0] != '{':
		return fmt.Sprintf("Nomad ended the stream: %s", bytes.TrimSpace(e.Fragment))
	case len(e.Fragment) > 0:
		return fmt.Sprintf("stream cut in the middle of a line (%d bytes received): %v", len(e.Fragment), e.Err)
	case errors.Is(e.Err, io.EOF):
		return "Nomad closed the stream"
	}
	return fmt.Sprintf("reading the stream: %v", e.Err)
}

func (e *endError) Unwrap() error { return e.Err }

// streamPath is the request path with the topic parameters.
func streamPath(topics []string) string {
	v := url.Values{}
	for _, t := range topics {
		v.Add("topic", t)
	}
	return "/v1/event/stream?" + v.Encode()
}

// conn is one open event stream.
type conn struct {
	body     io.ReadCloser
	r        *bufio.Reader
	cancel   context.CancelFunc
	timeout  time.Duration
	timer    *time.Timer
	timedOut atomic.Bool
	maxFrame int
}

// dial opens the stream at index (inclusive; 0 is the oldest event Nomad
// holds).
func dial(ctx context.Context, client *api.Client, path, namespace string, index uint64, timeout time.Duration, maxFrame int) (*conn, error) {
	cctx, cancel := context.WithCancel(ctx)
	c := &conn{cancel: cancel, timeout: timeout, maxFrame: maxFrame}
	// The timer also bounds the request itself: a server that accepts the
	// connection and never answers counts as dead too.
	c.timer = time.AfterFunc(timeout, func() {
		c.timedOut.Store(true)
		cancel()
	})
	q := (&api.QueryOptions{
		Namespace: namespace,
		Params:    map[string]string{"index": strconv.FormatUint(index, 10)},
	}).WithContext(cctx)
	body, err := client.Raw().Response(path, q)
	if err != nil {
		c.timer.Stop()
		cancel()
		var ure api.UnexpectedResponseError
		switch {
		case errors.As(err, &ure) && ure.HasStatusCode():
			return nil, &StatusError{Code: ure.StatusCode(), Body: ure.Body()}
		case c.timedOut.Load():
			return nil, fmt.Errorf("connecting to the event stream: no answer within heartbeat_timeout (%s)", timeout)
		}
		return nil, fmt.Errorf("connecting to the event stream: %w", err)
	}
	c.body = body
	c.r = bufio.NewReaderSize(body, readBufferSize)
	return c, nil
}

// close ends the connection.
func (c *conn) close() {
	c.timer.Stop()
	c.cancel()
	_ = c.body.Close()
}

// readLine returns the next complete line without its terminator, in a new
// slice the caller owns. The heartbeat timer runs only while readLine waits
// for data: time spent handing events on (backpressure) does not count.
func (c *conn) readLine() ([]byte, error) {
	c.timer.Reset(c.timeout)
	defer c.timer.Stop()
	var long []byte
	for {
		chunk, err := c.r.ReadSlice('\n')
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return nil, c.end(err, append(long, chunk...))
		}
		if len(long)+len(chunk) > c.maxFrame {
			if err == nil {
				return nil, &frameTooLargeError{Size: len(long) + len(chunk), Index: tailIndex(chunk)}
			}
			return nil, c.discardLong(len(long), chunk)
		}
		if err == nil {
			if long == nil {
				return bytes.Clone(bytes.TrimRight(chunk, "\r\n")), nil
			}
			long = append(long, chunk...)
			return bytes.TrimRight(long, "\r\n"), nil
		}
		// The line goes on beyond the read buffer; data is arriving.
		c.timer.Reset(c.timeout)
		long = append(long, chunk...)
	}
}

// end wraps the error that ended the stream.
func (c *conn) end(err error, fragment []byte) error {
	if c.timedOut.Load() {
		return errHeartbeatTimeout
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || len(fragment) > 0 {
		return &endError{Err: err, Fragment: bytes.Clone(fragment)}
	}
	return &endError{Err: err}
}

// discardLong reads and drops the rest of an over-long line, keeping its
// tail to find the frame's index ({"Events":[...],"Index":N}).
func (c *conn) discardLong(size int, chunk []byte) error {
	const keep = 64
	tail := append([]byte(nil), lastBytes(chunk, keep)...)
	size += len(chunk)
	for {
		c.timer.Reset(c.timeout)
		chunk, err := c.r.ReadSlice('\n')
		size += len(chunk)
		tail = append(tail, chunk...)
		tail = append(tail[:0], lastBytes(tail, keep)...)
		switch {
		case err == nil:
			return &frameTooLargeError{Size: size, Index: tailIndex(tail)}
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		}
		return c.end(err, nil)
	}
}

func lastBytes(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// tailIndex finds `"Index":N}` at the end of a frame line.
func tailIndex(tail []byte) uint64 {
	tail = bytes.TrimRight(tail, "\r\n} \t")
	i := bytes.LastIndex(tail, []byte(`"Index":`))
	if i < 0 {
		return 0
	}
	n, err := strconv.ParseUint(string(bytes.TrimSpace(tail[i+len(`"Index":`):])), 10, 64)
	if err != nil {
		return 0
	}
	return n
}
