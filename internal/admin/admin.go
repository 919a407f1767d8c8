// Package admin serves drover's operational HTTP endpoint: Prometheus
// metrics, liveness, readiness and the health of every component, the
// status page and its data, the tap of an output, and on request Go's
// runtime profiles.
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/drover-dev/drover/internal/config"
	"github.com/drover-dev/drover/internal/health"
	"github.com/drover-dev/drover/internal/metrics"
	"github.com/drover-dev/drover/internal/status"
)

// Options are what the admin endpoint serves.
type Options struct {
	// Config is the admin block (Enabled is the caller's business).
	Config config.Admin
	// Metrics is served on /metrics.
	Metrics *metrics.Registry
	// Status returns drover's health now, for /ready and /api/v1/health.
	Status func() health.Status
	// Overview returns the status page's document, for /api/v1/status
	// (nil: not served).
	Overview func() status.Status
	// Tap attaches a viewer to an output, for /api/v1/tap (nil: not
	// served).
	Tap func(output string, sample int) (TapStream, error)
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Server is the admin endpoint.
//
//	GET /metrics         Prometheus text format
//	GET /health          liveness: 200 while the process runs (also while it stops)
//	GET /ready           readiness: 200 while the pipeline runs and the health
//	                     policy holds; 503 while starting, stopping, or when a
//	                     rule of the policy tripped (the body says which)
//	GET /api/v1/health   the overall status and every component's health, JSON
//	GET /                the status page (its assets under /ui/)
//	GET /api/v1/status   what the status page shows, JSON (status.Status)
//	GET /api/v1/tap      the events leaving one output, streamed (see serveTap)
//	GET /debug/pprof/... net/http/pprof's profiles, only with pprof = true
//
// With admin.token_file, every request needs the token, except to the
// paths of admin.unauthenticated (see Auth).
type Server struct {
	srv  *http.Server
	ln   net.Listener
	done chan error
}

// Start listens on the configured address and serves in the background.
func Start(opts Options) (*Server, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	cfg := opts.Config
	ln, err := net.Listen("tcp", cfg.Address)
	if err != nil {
		return nil, fmt.Errorf("admin endpoint: listening on %s: %w", cfg.Address, err)
	}
	s := &Server{
		srv: &http.Server{
			Handler:           Handler(opts),
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          slog.NewLogLogger(opts.Logger.Handler(), slog.LevelWarn),
		},
		ln:   ln,
		done: make(chan error, 1),
	}
	go func() {
		err := s.srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.done <- err
	}()
	opts.Logger.Info("admin endpoint listening", "address", ln.Addr().String(),
		"token", cfg.Token != "", "unauthenticated", cfg.Unauthenticated)
	if cfg.Pprof {
		opts.Logger.Info("admin endpoint serves Go runtime profiles under /debug/pprof/")
	}
	return s, nil
}

// Handler returns the admin endpoint's handler.
func Handler(opts Options) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", opts.Metrics.Handler())
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /ready", func(w http.ResponseWriter, _ *http.Request) {
		st := opts.Status()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if !st.Ready {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		fmt.Fprintln(w, st.Summary())
	})
	mux.HandleFunc("GET /api/v1/health", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, opts.Status())
	})
	handleStatus(mux, opts)
	if opts.Config.Pprof {
		handlePprof(mux)
	}
	return NewAuth(opts.Config).Wrap(mux)
}

// writeJSON answers 200 with v as indented JSON.
func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(append(b, '\n'))
}

// handlePprof serves net/http/pprof under /debug/pprof/ on mux (not on
// http.DefaultServeMux, which nothing serves).
func handlePprof(mux *http.ServeMux) {
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("POST /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the server, letting requests in progress finish for up to 5s.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if serveErr := <-s.done; err == nil {
		err = serveErr
	}
	return err
}
