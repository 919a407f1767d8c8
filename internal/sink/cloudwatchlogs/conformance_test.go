package cloudwatchlogs

import (
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/sink/cloudwatchlogs/cwltest"
	"github.com/drover-dev/drover/internal/sink/sinktest"
)

// dest is the fake service seen as a sinktest.Destination: the messages of
// the stream the suite's events go to, and failure modes injected into
// PutLogEvents.
type dest struct{ srv *cwltest.Server }

func (d dest) Received() []string {
	var out []string
	for _, e := range d.srv.Events("/drover/conformance", "node-1") {
		out = append(out, e.Message)
	}
	return out
}

func (d dest) SetMode(m sinktest.Mode) {
	d.srv.Fail("PutLogEvents", nil)
	d.srv.FailPut(nil)
	switch m {
	case sinktest.FailTransient:
		d.srv.Fail("PutLogEvents", &cwltest.Unavailable)
	case sinktest.Unauthorized:
		d.srv.Fail("PutLogEvents", &cwltest.AccessDenied)
	case sinktest.TooLarge:
		d.srv.FailPut(func(evs []cwltest.Event) *cwltest.Failure {
			if len(evs) > 2 {
				return &cwltest.Failure{Status: 413, Code: "RequestEntityTooLarge", Message: "Request Entity Too Large"}
			}
			return nil
		})
	case sinktest.RefusePoison:
		d.srv.FailPut(func(evs []cwltest.Event) *cwltest.Failure {
			for _, e := range evs {
				if strings.Contains(e.Message, sinktest.Poison) {
					return &cwltest.InvalidParameter
				}
			}
			return nil
		})
	case sinktest.Refuse:
		d.srv.Fail("PutLogEvents", &cwltest.InvalidParameter)
	}
}

func TestConformance(t *testing.T) {
	// The suite's events are from November 2023: the service's clock and
	// the sink's are set an hour after them.
	now := time.Unix(1700000000, 0).Add(time.Hour)
	for _, throttle := range []bool{false, true} {
		name := "unavailable"
		if throttle {
			name = "throttling"
		}
		t.Run(name, func(t *testing.T) {
			sinktest.Run(t, sinktest.Harness{New: func(t *testing.T, cctx component.Context) (component.Sink, sinktest.Destination) {
				cwltest.SetCredentials(t)
				srv := cwltest.New(t)
				srv.SetNow(func() time.Time { return now })
				cfg := testConfig(srv)
				cfg.GroupName = "/drover/conformance"
				cfg.Encoding = EncodingText
				cfg.Batch.MaxEvents = 3
				s, err := New(cctx, cfg)
				if err != nil {
					t.Fatal(err)
				}
				s.now = func() time.Time { return now }
				d := dest{srv}
				if throttle {
					return s, throttled{d}
				}
				return s, d
			}})
		})
	}
}

// throttled fails transiently with ThrottlingException instead of
// ServiceUnavailableException.
type throttled struct{ dest }

func (d throttled) SetMode(m sinktest.Mode) {
	if m == sinktest.FailTransient {
		d.srv.Fail("PutLogEvents", &cwltest.Throttling)
		return
	}
	d.dest.SetMode(m)
}
