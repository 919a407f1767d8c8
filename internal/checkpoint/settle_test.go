package checkpoint

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/event"
)

func TestSettle(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	in := NewInflight(nil)
	p := NewTrackerIn[int64](0, in, nil)
	ack := p.Add(10)
	saved := 0
	save := func() error { saved++; return nil }

	// Acknowledged while waiting: no error, saved after.
	go func() {
		time.Sleep(10 * time.Millisecond)
		ack.Release(event.Delivered)
	}()
	if errs := in.Settle(context.Background(), log, save); len(errs) != 0 || saved != 1 || p.Snapshot() != 10 {
		t.Fatalf("errs %v, saved %d, committed %d", errs, saved, p.Snapshot())
	}

	// Not acknowledged in time: logged, reported, and saved anyway.
	p.Add(20)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	failing := func() error { return errors.New("disk full") }
	errs := in.Settle(ctx, log, failing)
	if len(errs) != 2 || !strings.Contains(errs[0].Error(), "waiting for acknowledgements") ||
		!strings.Contains(errs[1].Error(), "saving checkpoint: disk full") ||
		!strings.Contains(logs.String(), "batches=1") {
		t.Fatalf("errs %v\n%s", errs, logs.String())
	}
}
