package kubernetes

import (
	"context"
	"log/slog"
	"sync"

	"k8s.io/klog/v2"
)

var klogOnce sync.Once

// routeKlog sends client-go's own logs (klog, process-wide) to drover's
// logger, the first time a discoverer is built: its errors as errors,
// everything else (watch restarts, relists) at debug level, since the
// discoverer logs what matters itself.
func routeKlog(log *slog.Logger) {
	klogOnce.Do(func() {
		klog.SetSlogLogger(slog.New(demote{log.Handler().WithAttrs([]slog.Attr{slog.String("library", "client-go")})}))
	})
}

// demote is a handler that logs records below error level at debug level.
type demote struct{ h slog.Handler }

func (d demote) Enabled(ctx context.Context, l slog.Level) bool {
	if l < slog.LevelError {
		l = slog.LevelDebug
	}
	return d.h.Enabled(ctx, l)
}

func (d demote) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelError {
		r.Level = slog.LevelDebug
	}
	return d.h.Handle(ctx, r)
}

func (d demote) WithAttrs(as []slog.Attr) slog.Handler { return demote{d.h.WithAttrs(as)} }
func (d demote) WithGroup(name string) slog.Handler    { return demote{d.h.WithGroup(name)} }
