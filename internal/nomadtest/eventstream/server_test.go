package eventstream

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// client reads one stream line by line.
type client struct {
	t    *testing.T
	resp *http.Response
	r    *bufio.Reader
}

func open(t *testing.T, s *Server, query string) *client {
	t.Helper()
	resp, err := http.Get(s.URL() + "/v1/event/stream?" + query)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return &client{t: t, resp: resp, r: bufio.NewReader(resp.Body)}
}

// line returns the next line, failing the test after a deadline.
func (c *client) line() (string, error) {
	c.t.Helper()
	type result struct {
		s   string
		err error
	}
	ch := make(chan result, 1)
	go func() {
		s, err := c.r.ReadString('\n')
		ch <- result{s, err}
	}()
	select {
	case r := <-ch:
		return r.s, r.err
	case <-time.After(10 * time.Second):
		c.t.Fatal("no stream line within 10s")
		return "", nil
	}
}

// dataLines reads n lines that are not heartbeats.
func (c *client) dataLines(n int) []string {
	c.t.Helper()
	var out []string
	for len(out) < n {
		l, err := c.line()
		if err != nil {
			c.t.Fatalf("after %d lines: %v", len(out), err)
		}
		if l != "{}\n" {
			out = append(out, strings.TrimSuffix(l, "\n"))
		}
	}
	return out
}

// captureLines returns the data lines of a capture file.
func captureLines(t *testing.T, name string) []string {
	t.Helper()
	data, err := os.ReadFile(Fixture(name))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		if l != "" && l != "{}" {
			out = append(out, l)
		}
	}
	return out
}

// sameJSON compares two lines as JSON values. Nomad encodes Go maps (node
// attributes, task states) in random order, so two real answers with the
// same content differ byte-wise.
func sameJSON(t *testing.T, a, b string) bool {
	t.Helper()
	decode := func(s string) any {
		dec := json.NewDecoder(strings.NewReader(s))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("invalid JSON %.100s: %v", s, err)
		}
		return v
	}
	return reflect.DeepEqual(decode(a), decode(b))
}

// The fake agent, fed with the buffer a real agent held after its restart,
// answers index=0, index=40 and index=1000 as the real agent did.
func TestReplaysCapturesLikeTheAgent(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	s.Publish(MustLoad(CaptureAfterRestart)...)
	for _, tc := range []struct{ query, capture string }{
		{"topic=*&namespace=*&index=0", CaptureAfterRestart},
		{"topic=*&namespace=*&index=40", CaptureAfterRestartIndex40},
		{"topic=*&namespace=*&index=1000", CaptureAfterRestartIndex1000},
	} {
		c := open(t, s, tc.query)
		first, err := c.line()
		if err != nil || first != "{}\n" {
			t.Fatalf("%s: first line %q, %v; want {}", tc.query, first, err)
		}
		want := captureLines(t, tc.capture)
		got := c.dataLines(len(want))
		for i := range want {
			if !sameJSON(t, got[i], want[i]) {
				t.Fatalf("%s: line %d differs:\n got %.200s\nwant %.200s", tc.query, i, got[i], want[i])
			}
		}
	}
}

// Without namespace=* only the default namespace and namespace-less events
// arrive, as the default-namespace capture of the same session shows.
func TestNamespaceFilterMatchesCapture(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	s.Publish(MustLoad(CaptureSession)...)
	want := captureLines(t, CaptureSessionDefaultNS)
	got := open(t, s, "topic=*").dataLines(len(want))
	for i := range want {
		if !sameJSON(t, got[i], want[i]) {
			t.Fatalf("line %d differs:\n got %.200s\nwant %.200s", i, got[i], want[i])
		}
	}
}

func TestTopicFilterKeys(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	s.Publish(MustLoad(CaptureSession)...)
	c := open(t, s, "topic=Job:sleeper&topic=Node&namespace=*")
	for _, l := range c.dataLines(10) {
		item, ok, err := ParseLine([]byte(l))
		if err != nil || !ok {
			t.Fatalf("line %q: %v", l, err)
		}
		for _, e := range item.Events {
			if !(e.Topic == "Node" || e.Topic == "Job" && e.Key == "sleeper") {
				t.Fatalf("event %s passed the filter", e.Identity())
			}
		}
	}
}

// An index older than the buffer silently starts at the oldest item held.
func TestAgedOutIndexStartsAtOldest(t *testing.T) {
	s := New(Options{BufferSize: 10})
	defer s.Close()
	items := History()
	s.Publish(items...)
	oldest := items[len(items)-10]
	c := open(t, s, "namespace=*&index=20")
	got := c.dataLines(1)[0]
	item, _, _ := ParseLine([]byte(got))
	if item.Index != oldest.Index {
		t.Fatalf("first index %d, want the oldest buffered %d", item.Index, oldest.Index)
	}
}

func TestHeartbeats(t *testing.T) {
	s := New(Options{Heartbeat: 20 * time.Millisecond})
	defer s.Close()
	c := open(t, s, "namespace=*")
	for i := 0; i < 3; i++ {
		if l, err := c.line(); err != nil || l != "{}\n" {
			t.Fatalf("line %d: %q %v", i, l, err)
		}
	}
}

func TestCutNextAfterBreaksMidLine(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	s.Publish(MustLoad(CaptureSession)...)
	s.CutNextAfter(2)
	c := open(t, s, "namespace=*")
	c.dataLines(2)
	l, err := c.line()
	if err == nil || l == "" || strings.HasSuffix(l, "}") {
		t.Fatalf("after the cut: %q, %v; want a partial line and an error", l, err)
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("error %v, want an unexpected EOF (unterminated chunked body)", err)
	}
	// The next request is not cut.
	c2 := open(t, s, "namespace=*")
	c2.dataLines(5)
}

func TestRestartCutsAndReplacesTheBuffer(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	s.Publish(MustLoad(CaptureSession)...)
	c := open(t, s, "namespace=*")
	c.dataLines(3)
	waitFor(t, func() bool { return s.OpenStreams() == 1 })
	s.Restart(MustLoad(CaptureDevRestart))
	for {
		_, err := c.line()
		if err != nil {
			break
		}
	}
	c2 := open(t, s, "namespace=*&index=57")
	item, _, _ := ParseLine([]byte(c2.dataLines(1)[0]))
	if item.Index != 10 {
		t.Fatalf("after a -dev restart index=57 starts at %d, want the newest item 10", item.Index)
	}
}

func TestSlowSubscriberIsDropped(t *testing.T) {
	s := New(Options{BufferSize: 5})
	defer s.Close()
	items := History()
	s.Publish(items[:5]...)
	c := open(t, s, "namespace=*")
	c.dataLines(1)
	// The item the subscriber stands on leaves the buffer.
	s.Publish(items[5:20]...)
	var rest bytes.Buffer
	for {
		l, err := c.line()
		rest.WriteString(l)
		if err != nil {
			break
		}
	}
	if !strings.HasSuffix(rest.String(), "event dropped from buffer") {
		t.Fatalf("stream ended with %q", tailOf(rest.String(), 80))
	}
}

func TestFailuresAndTokens(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	s.FailNext(1, 500, "No cluster leader")
	resp, err := http.Get(s.URL() + "/v1/event/stream")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 500 || !strings.Contains(string(body), "No cluster leader") {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	s.RequireToken("secret")
	for token, want := range map[string]int{"": 500, "unknown": 403, "secret": 200} {
		req, _ := http.NewRequest(http.MethodGet, s.URL()+"/v1/jobs", nil)
		req.Header.Set("X-Nomad-Token", token)
		if token == "secret" {
			s.SetList("/v1/jobs", List{Body: []byte("[]")})
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want || want != 200 && !strings.Contains(string(body), "Permission denied") {
			t.Fatalf("token %q: %d %q, want %d", token, resp.StatusCode, body, want)
		}
	}
	if reqs := s.StreamRequests(); len(reqs) != 1 || reqs[0].Status != 500 {
		t.Fatalf("requests %+v", reqs)
	}
}

func TestListsAndShift(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	l, err := LoadList("jobs-all-ns")
	if err != nil {
		t.Fatal(err)
	}
	if l.Index != 32 {
		t.Fatalf("index %d", l.Index)
	}
	s.SetList("/v1/jobs", l)
	resp, err := http.Get(s.URL() + "/v1/jobs?namespace=*")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("X-Nomad-Index") != "32" {
		t.Fatalf("X-Nomad-Index %q", resp.Header.Get("X-Nomad-Index"))
	}

	items := MustLoad(CaptureSession)[:3]
	shifted, err := Shift(items, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for i, it := range shifted {
		back, _, err := ParseLine(Line(it.Index, it.Events))
		if err != nil || back.Index != items[i].Index+1000 || back.Events[0].Index != items[i].Index+1000 ||
			back.Events[0].Key != items[i].Events[0].Key {
			t.Fatalf("shifted item %d: %+v, %v", i, back, err)
		}
	}
	// Nanosecond times survive the rewrite exactly.
	if !bytes.Contains(shifted[0].Events[0].Raw, []byte(`"StatusUpdatedAt":1795258953`)) {
		t.Fatalf("payload changed: %.300s", shifted[0].Events[0].Raw)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func tailOf(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
