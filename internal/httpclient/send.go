package httpclient

import (
	"bytes"
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/klauspost/compress/gzip"
)

// Request is one request body a sink sends.
type Request struct {
	// Method defaults to POST.
	Method string
	URL    string
	// Body is sent as it is, or gzip-compressed when Gzip is set. The
	// caller keeps it; Send does not hold it after returning.
	Body []byte
	// Gzip compresses Body (into a pooled buffer) and sets
	// Content-Encoding: gzip.
	Gzip bool
	// Header holds the request's own headers (Content-Type, a tenant);
	// the client's configured headers and authentication are added.
	Header http.Header
}

// Send sends r and hands the answer to check, which must read and close
// the response body and say what the answer means; nil check is
// CheckResponse. It returns the transport's error or check's result. Send
// returns only once the transport is done with the body, so that the
// caller may reuse r.Body at once.
func (c *Client) Send(ctx context.Context, r Request, check func(*http.Response) error) error {
	payload := r.Body
	if r.Gzip {
		buf := Gzip(r.Body)
		defer PutGzip(buf)
		payload = buf.Bytes()
	}
	method := r.Method
	if method == "" {
		method = http.MethodPost
	}
	b := newBody(payload)
	hreq, err := http.NewRequestWithContext(ctx, method, r.URL, b)
	if err != nil {
		return err
	}
	hreq.ContentLength = int64(len(payload))
	for k, v := range r.Header {
		hreq.Header[k] = v
	}
	if r.Gzip {
		hreq.Header.Set("Content-Encoding", "gzip")
	}
	resp, err := c.Do(hreq)
	if err == nil {
		if check == nil {
			err = CheckResponse(resp, time.Now())
		} else {
			err = check(resp)
		}
	}
	// The transport may read the body until it closes it, even after Do
	// returned.
	<-b.closed
	return err
}

var (
	gzipWriters = sync.Pool{New: func() any { return gzip.NewWriter(nil) }}
	gzipBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}
)

// maxPooledGzip keeps a buffer that held one huge body out of the pool.
const maxPooledGzip = 16 << 20

// Gzip compresses p into a pooled buffer. Give the buffer back with
// PutGzip when done with it.
func Gzip(p []byte) *bytes.Buffer {
	buf := gzipBuffers.Get().(*bytes.Buffer)
	buf.Reset()
	zw := gzipWriters.Get().(*gzip.Writer)
	zw.Reset(buf)
	_, _ = zw.Write(p) // writing to a bytes.Buffer does not fail
	_ = zw.Close()
	gzipWriters.Put(zw)
	return buf
}

// PutGzip returns a buffer of Gzip to the pool.
func PutGzip(buf *bytes.Buffer) {
	if buf.Cap() <= maxPooledGzip {
		gzipBuffers.Put(buf)
	}
}

// body is a request body that reports when the transport closed it.
type body struct {
	bytes.Reader
	once   sync.Once
	closed chan struct{}
}

func newBody(p []byte) *body {
	b := &body{closed: make(chan struct{})}
	b.Reset(p)
	return b
}

// Close records that the transport is done with the body.
func (b *body) Close() error {
	b.once.Do(func() { close(b.closed) })
	return nil
}
