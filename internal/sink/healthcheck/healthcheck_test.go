package healthcheck

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestRequireRunsOnlyARequiredCheck(t *testing.T) {
	fail := errors.New("refused")
	for _, tc := range []struct {
		cfg     Config
		runs    bool
		wantErr bool
	}{
		{Config{Enabled: true, Required: true}, true, true},
		{Config{Enabled: true}, false, false},
		{Config{Required: true}, false, false},
	} {
		ran, closed := false, false
		err := tc.cfg.Require(time.Second, func(ctx context.Context) error {
			ran = true
			if _, ok := ctx.Deadline(); !ok {
				t.Error("the check's context has no deadline")
			}
			return fail
		}, func() { closed = true })
		if ran != tc.runs || closed != tc.runs {
			t.Errorf("%+v: ran %v, closed idle connections %v; want %v", tc.cfg, ran, closed, tc.runs)
		}
		if (err != nil) != tc.wantErr || (err != nil && err != fail) {
			t.Errorf("%+v: err = %v", tc.cfg, err)
		}
	}
	if err := (Config{Enabled: true, Required: true}).Require(time.Second, func(context.Context) error { return nil }, nil); err != nil {
		t.Errorf("a passing check: %v", err)
	}
}

type probe struct{}

func (probe) Probe(context.Context) error { return nil }

func TestProberOnlyWhenEnabled(t *testing.T) {
	if p := (Config{Enabled: true}).Prober(probe{}); p == nil {
		t.Error("an enabled check gives no prober")
	}
	if p := (Config{Required: true}).Prober(probe{}); p != nil {
		t.Errorf("a disabled check gives the prober %v", p)
	}
}
