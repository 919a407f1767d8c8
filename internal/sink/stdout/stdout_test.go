package stdout

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/config"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/sink/sinktest"
)

// writer is a destination that fails on demand.
type writer struct {
	mu   sync.Mutex
	mode sinktest.Mode
	buf  bytes.Buffer
}

func (w *writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.mode != sinktest.Accept {
		return 0, syscall.EAGAIN
	}
	return w.buf.Write(p)
}

func (w *writer) SetMode(m sinktest.Mode) { w.mu.Lock(); w.mode = m; w.mu.Unlock() }

func (w *writer) Received() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(w.buf.Bytes()))
	for sc.Scan() {
		var v struct{ Message string }
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			out = append(out, "unparsable line: "+sc.Text())
			continue
		}
		out = append(out, v.Message)
	}
	return out
}

func TestConformance(t *testing.T) {
	never := "standard output takes whatever it is given or fails to write"
	sinktest.Run(t, sinktest.Harness{
		Unsupported: map[sinktest.Mode]string{sinktest.Unauthorized: never, sinktest.TooLarge: never,
			sinktest.RefusePoison: never, sinktest.Refuse: never},
		New: func(t *testing.T, cctx component.Context) (component.Sink, sinktest.Destination) {
			w := &writer{}
			// Retry quickly: the suite waits for failed attempts.
			req := requestConfig
			req.RetryInitialBackoff, req.RetryMaxBackoff = time.Millisecond, 2*time.Millisecond
			s, err := newSink(cctx, NewConfig(), w, req)
			if err != nil {
				t.Fatal(err)
			}
			return s, w
		},
	})
}

func TestWritesToPipe(t *testing.T) {
	for _, c := range []struct {
		encoding string
		want     string
	}{
		{"json", `{"timestamp":"2023-11-14T22:13:20Z","message":"hello \"you\"","host":"node-1"}` + "\n" +
			`{"timestamp":"2023-11-14T22:13:20Z","message":"second","host":"node-1"}` + "\n"},
		{"text", "hello \"you\"\nsecond\n"},
	} {
		t.Run(c.encoding, func(t *testing.T) {
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			read := make(chan []byte, 1)
			go func() {
				var out bytes.Buffer
				_, _ = out.ReadFrom(r)
				read <- out.Bytes()
			}()
			cfg := NewConfig()
			cfg.Encoding = c.encoding
			s, err := New(component.Context{}, cfg, w)
			if err != nil {
				t.Fatal(err)
			}
			in := make(chan *event.Batch, 1)
			acked := make(chan bool, 1)
			meta := event.NewMeta("t", event.NewFields(event.Field{Key: "host", Value: event.StringValue("node-1")}))
			in <- &event.Batch{Ack: event.NewAck(func(ok bool) { acked <- ok }), Events: []event.Event{
				{Timestamp: time.Unix(1700000000, 0), Message: []byte(`hello "you"`), Meta: meta},
				{Timestamp: time.Unix(1700000000, 0), Message: []byte("second"), Meta: meta},
			}}
			close(in)
			if err := s.Run(context.Background(), in); err != nil {
				t.Fatal(err)
			}
			if !<-acked {
				t.Fatal("not acknowledged ok")
			}
			w.Close()
			if got := string(<-read); got != c.want {
				t.Fatalf("got\n%s\nwant\n%s", got, c.want)
			}
		})
	}
}

func TestConfig(t *testing.T) {
	if err := NewConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	err := (&Config{Encoding: "xml"}).Validate()
	var fe *config.FieldError
	if !errors.As(err, &fe) || fe.Field != "encoding" {
		t.Fatalf("Validate = %v", err)
	}
	reg, ok := component.Lookup(component.KindSink, Type)
	if !ok || reg.NewConfig().(*Config).Encoding != "json" {
		t.Fatal("stdout sink not registered with its defaults")
	}
}

func TestLoadFromHCL(t *testing.T) {
	c, err := sinktest.LoadConfig(t, Type, `encoding = "text"`, nil)
	if err != nil || c.(*Config).Encoding != "text" {
		t.Fatalf("LoadConfig = %+v, %v", c, err)
	}
	if _, err := sinktest.LoadConfig(t, Type, `encoding = "yaml"`, nil); err == nil {
		t.Fatal("unknown encoding accepted")
	}
	if _, err := sinktest.LoadConfig(t, Type, `colour = true`, nil); err == nil {
		t.Fatal("unknown attribute accepted")
	}
}
