package httpclient

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"
	"unicode/utf8"
)

// fuzzNow is a fixed "now" so that Retry-After dates are reproducible.
var fuzzNow = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// FuzzCheckResponse reads arbitrary answers of an HTTP endpoint, as the
// http sink (and every sink built on this client) does. It must never
// panic: 2xx is delivered; anything else is a *StatusError with the
// status, a delay that is not negative and at most a day, and at most
// SnippetBytes of the body as valid UTF-8 without control characters.
func FuzzCheckResponse(f *testing.F) {
	f.Add(200, "", []byte("ok"))
	f.Add(204, "", []byte(""))
	f.Add(400, "", []byte(`{"error":"bad request"}`))
	f.Add(413, "", bytes.Repeat([]byte("x"), 3000))
	f.Add(429, "3", []byte("slow down"))
	f.Add(503, "Wed, 21 Oct 2015 07:28:00 GMT", []byte("\xff\x00\n\ttext"))
	f.Add(503, "Fri, 31 Dec 9999 23:59:59 GMT", []byte(""))
	f.Add(500, "-1", []byte("\u2028"))
	f.Add(302, "", []byte(""))
	f.Add(101, "99999999999999999999", []byte("x"))
	f.Fuzz(func(t *testing.T, status int, retryAfter string, body []byte) {
		if status < 100 || status > 999 {
			return // net/http refuses such status lines
		}
		resp := &http.Response{StatusCode: status, Header: http.Header{}, Body: io.NopCloser(bytes.NewReader(body))}
		resp.Header.Set("Retry-After", retryAfter)
		err := CheckResponse(resp, fuzzNow)
		if status >= 200 && status < 300 {
			if err != nil {
				t.Fatalf("%d: %v", status, err)
			}
			return
		}
		var se *StatusError
		if !errors.As(err, &se) || se.Code != status {
			t.Fatalf("%d: error %v does not carry the status", status, err)
		}
		if len(se.Body) > SnippetBytes*utf8.UTFMax || !utf8.ValidString(se.Body) {
			t.Fatalf("%d: body snippet of %d bytes, valid UTF-8 %v", status, len(se.Body), utf8.ValidString(se.Body))
		}
		for _, r := range se.Body {
			if r < 0x20 || r == 0x7f {
				t.Fatalf("%d: control character %q in the snippet %q", status, r, se.Body)
			}
		}
		if se.RetryAfter < 0 || se.RetryAfter > 24*time.Hour {
			t.Fatalf("%d: delay %v", status, se.RetryAfter)
		}
	})
}

// FuzzParseRetryAfter parses arbitrary Retry-After values: never a panic,
// never a negative delay, a number of seconds capped at a day, and a value
// with surrounding space read as without it.
func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"", "0", "120", " 7 ", "-5", "1e3", "86401", "9223372036854775807",
		"Wed, 21 Oct 2015 07:28:00 GMT", "Fri, 31 Dec 9999 23:59:59 GMT", "Sunday, 06-Nov-94 08:49:37 GMT",
		"Sun Nov  6 08:49:37 1994", "\x00", "１２"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		d, ok := ParseRetryAfter(v, fuzzNow)
		if !ok {
			if d != 0 {
				t.Fatalf("%q: not ok with delay %v", v, d)
			}
			return
		}
		if d < 0 {
			t.Fatalf("%q: negative delay %v", v, d)
		}
		if d > 24*time.Hour {
			t.Fatalf("%q: %v, more than a day", v, d)
		}
		if d2, ok2 := ParseRetryAfter(" "+v+"\t", fuzzNow); d2 != d || !ok2 {
			t.Fatalf("%q: %v, with spaces around it %v %v", v, d, d2, ok2)
		}
	})
}
