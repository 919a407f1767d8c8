package secret

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
)

// Handler is a slog.Handler that redacts secrets from every record before
// passing it on: the message, and every attribute's value (strings,
// errors, anything printed with %v) at any depth of groups. The Redactor
// can be replaced while logs are written (a reload brings new secrets).
type Handler struct {
	next slog.Handler
	r    *atomic.Pointer[Redactor]
}

// NewHandler returns a Handler that passes redacted records to next.
func NewHandler(next slog.Handler, r *Redactor) *Handler {
	p := &atomic.Pointer[Redactor]{}
	p.Store(r)
	return &Handler{next: next, r: p}
}

// SetRedactor replaces the Redactor of h and of every Handler derived
// from it with WithAttrs or WithGroup.
func (h *Handler) SetRedactor(r *Redactor) { h.r.Store(r) }

// Enabled implements slog.Handler.
func (h *Handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

// Handle implements slog.Handler.
func (h *Handler) Handle(ctx context.Context, rec slog.Record) error {
	r := h.r.Load()
	if r == nil {
		return h.next.Handle(ctx, rec)
	}
	out := slog.NewRecord(rec.Time, rec.Level, r.Redact(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(redactAttr(r, a))
		return true
	})
	return h.next.Handle(ctx, out)
}

// WithAttrs implements slog.Handler: the attributes are redacted with the
// Redactor of the moment (attributes given here are the component's
// labels, not secrets, but a reload cannot change them afterwards).
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	r := h.r.Load()
	red := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		red[i] = redactAttr(r, a)
	}
	return &Handler{next: h.next.WithAttrs(red), r: h.r}
}

// WithGroup implements slog.Handler.
func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{next: h.next.WithGroup(name), r: h.r}
}

func redactAttr(r *Redactor, a slog.Attr) slog.Attr {
	if r == nil {
		return a
	}
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, r.Redact(v.String()))
	case slog.KindGroup:
		g := v.Group()
		out := make([]any, len(g))
		for i, ga := range g {
			out[i] = redactAttr(r, ga)
		}
		return slog.Group(a.Key, out...)
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			if s := x.Error(); r.Redact(s) != s {
				return slog.String(a.Key, r.Redact(s))
			}
		case fmt.Stringer:
			if s := x.String(); r.Redact(s) != s {
				return slog.String(a.Key, r.Redact(s))
			}
		case []string:
			out := make([]string, len(x))
			for i, s := range x {
				out[i] = r.Redact(s)
			}
			return slog.Any(a.Key, out)
		default:
			if s := fmt.Sprint(x); r.Redact(s) != s {
				return slog.String(a.Key, r.Redact(s))
			}
		}
	}
	return a
}
