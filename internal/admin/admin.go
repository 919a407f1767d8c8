// Package admin serves drover's operational HTTP endpoint: Prometheus
// metrics, liveness and readiness, and on request Go's runtime profiles.
package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/drover-dev/drover/internal/config"
	"github.com/drover-dev/drover/internal/metrics"
)

// Server is the admin endpoint.
//
//	GET /metrics  Prometheus text format
//	GET /health   200 while the process runs
//	GET /ready    200 while the pipeline runs, 503 while starting or stopping
//	GET /debug/pprof/...  net/http/pprof's profiles, only with cfg.Pprof
type Server struct {
	srv  *http.Server
	ln   net.Listener
	done chan error
}

// Start listens on cfg.Address and serves in the background (cfg.Enabled is
// the caller's business). ready reports whether the pipeline is running.
func Start(cfg config.Admin, reg *metrics.Registry, ready func() bool, logger *slog.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", cfg.Address)
	if err != nil {
		return nil, fmt.Errorf("admin endpoint: listening on %s: %w", cfg.Address, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", reg.Handler())
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /ready", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !ready() {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "not ready")
			return
		}
		fmt.Fprintln(w, "ready")
	})
	if cfg.Pprof {
		handlePprof(mux)
	}
	s := &Server{
		srv: &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
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
	logger.Info("admin endpoint listening", "address", ln.Addr().String())
	if cfg.Pprof {
		logger.Info("admin endpoint serves Go runtime profiles under /debug/pprof/")
	}
	return s, nil
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
