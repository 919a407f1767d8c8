package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"github.com/bmatcuk/doublestar/v4"
	"golang.org/x/sys/unix"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/config"
	"github.com/drover-dev/drover/internal/metrics"
	"github.com/drover-dev/drover/internal/nomadclient"
)

// Severities of a Finding.
const (
	SeverityError   = "error"
	SeverityWarning = "warning"
)

// Finding is one thing drover validate found.
type Finding struct {
	// Severity is SeverityError (run would refuse to start, or the
	// pipeline cannot work) or SeverityWarning.
	Severity string
	// Subject is what the finding is about: `sink "out"`, "data_dir",
	// "admin.address".
	Subject string
	Message string
}

func (f Finding) String() string { return f.Severity + ": " + f.Subject + ": " + f.Message }

// CheckOptions configure Check.
type CheckOptions struct {
	// Connect also contacts what the configuration names: each sink's
	// health check, the Nomad API and its token, and it looks for the
	// files each file source's globs match.
	Connect bool
	// Timeout bounds each connection; default 10s.
	Timeout time.Duration
	// Logger receives what the components log while they are built;
	// nil discards it.
	Logger *slog.Logger
}

// Check finds what would stop `drover run` from starting with cfg, or its
// pipeline from working, beyond what loading the configuration checks:
// data_dir (a directory this user can write, or one it can create) and
// the construction of every component (TLS files, journalctl, the Nomad
// client's settings), exactly as run builds them. Nothing is started and
// no state is written. With opts.Connect it also connects (see
// CheckOptions). Findings come in configuration order.
func Check(ctx context.Context, cfg *config.Config, opts CheckOptions) []Finding {
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	var out []Finding
	add := func(sev, subject string, err error) {
		out = append(out, Finding{Severity: sev, Subject: subject, Message: err.Error()})
	}
	out = append(out, checkDataDir(cfg.DataDir)...)
	out = append(out, checkAdmin(cfg.Admin)...)
	if opts.Connect && cfg.Admin.Enabled {
		if err := checkListen(cfg.Admin.Address); err != nil {
			add(SeverityWarning, "admin.address", err)
		}
	}
	host, _ := os.Hostname()
	reg := metrics.New()
	checkedNomad := map[nomadclient.Config]error{}
	for _, c := range cfg.Components {
		subject := fmt.Sprintf("%s %q", c.Kind, c.ID)
		cctx := component.Context{
			Kind: c.Kind, Type: c.Type, ID: c.ID, DataDir: cfg.DataDir, Host: host,
			Logger:  opts.Logger.With("component_kind", string(c.Kind), "component_type", c.Type, "component_id", c.ID),
			Metrics: reg.Component(string(c.Kind), c.Type, c.ID),
		}
		var hc component.Healthchecker
		var err error
		switch c.Kind {
		case component.KindSource:
			_, err = c.Registration.BuildSource(cctx, c.Config)
		case component.KindTransform:
			_, err = c.Registration.BuildTransform(cctx, c.Config)
		case component.KindSink:
			var s component.Sink
			s, err = c.Registration.BuildSink(cctx, c.Config)
			hc, _ = s.(component.Healthchecker)
		}
		if err != nil {
			add(SeverityError, subject, fmt.Errorf("cannot be built: %w", err))
			continue
		}
		if !opts.Connect {
			continue
		}
		if hc != nil {
			hctx, cancel := context.WithTimeout(ctx, opts.Timeout)
			err := hc.Healthcheck(hctx)
			cancel()
			if err != nil {
				add(SeverityError, subject, fmt.Errorf("health check failed: %w", err))
			}
		}
		for _, nc := range nomadBlocks(c.Config) {
			err, done := checkedNomad[nc]
			if !done {
				nctx, cancel := context.WithTimeout(ctx, opts.Timeout)
				err = nc.Check(nctx)
				cancel()
				checkedNomad[nc] = err
			}
			if err != nil {
				add(SeverityError, subject, err)
			}
		}
		if c.Kind == component.KindSource {
			for _, g := range includeGlobs(c.Config) {
				matches, err := doublestar.FilepathGlob(g, doublestar.WithFilesOnly())
				switch {
				case err != nil:
					add(SeverityWarning, subject, fmt.Errorf("include %q: %w", g, err))
				case len(matches) == 0:
					add(SeverityWarning, subject, fmt.Errorf("include %q matches no file now (files that appear later are read)", g))
				}
			}
		}
	}
	return out
}

// checkDataDir checks that data_dir is a directory this user can write,
// or that it can be created, and warns when other users may write to it.
func checkDataDir(dir string) []Finding {
	fail := func(format string, args ...any) []Finding {
		return []Finding{{Severity: SeverityError, Subject: "data_dir", Message: fmt.Sprintf(format, args...)}}
	}
	fi, err := os.Stat(dir)
	switch {
	case missing(err):
		// run creates it: the nearest existing ancestor must let us.
		parent := filepath.Dir(filepath.Clean(dir))
		for {
			pfi, err := os.Stat(parent)
			if err == nil {
				if !pfi.IsDir() {
					return fail("%s cannot be created: %s is not a directory", dir, parent)
				}
				if err := unix.Access(parent, unix.W_OK|unix.X_OK); err != nil {
					return fail("%s cannot be created: %s is not writable by uid %d: %v", dir, parent, os.Getuid(), err)
				}
				return nil
			}
			if !missing(err) {
				return fail("%s cannot be created: %v", dir, err)
			}
			if next := filepath.Dir(parent); next != parent {
				parent = next
				continue
			}
			return fail("%s cannot be created", dir)
		}
	case err != nil:
		return fail("%v", err)
	case !fi.IsDir():
		return fail("%s is not a directory", dir)
	}
	if err := unix.Access(dir, unix.R_OK|unix.W_OK|unix.X_OK); err != nil {
		return fail("%s is not readable and writable by uid %d: %v", dir, os.Getuid(), err)
	}
	var out []Finding
	// What drover keeps there must be writable too.
	for _, sub := range []string{"drover.lock", "checkpoints", "buffer"} {
		p := filepath.Join(dir, sub)
		if _, err := os.Lstat(p); err == nil {
			if err := unix.Access(p, unix.W_OK); err != nil {
				out = append(out, fail("%s is not writable by uid %d: %v", p, os.Getuid(), err)...)
			}
		}
	}
	if fi.Mode().Perm()&0o002 != 0 {
		out = append(out, Finding{Severity: SeverityWarning, Subject: "data_dir",
			Message: fmt.Sprintf("%s is writable by every user (mode %v): anyone on the host can change drover's positions", dir, fi.Mode().Perm())})
	}
	return out
}

// checkAdmin warns about an admin endpoint that others can reach without
// a token, and about a token file that others can read.
func checkAdmin(a config.Admin) []Finding {
	if !a.Enabled {
		return nil
	}
	var out []Finding
	warn := func(subject, format string, args ...any) {
		out = append(out, Finding{Severity: SeverityWarning, Subject: subject, Message: fmt.Sprintf(format, args...)})
	}
	if host, _, err := net.SplitHostPort(a.Address); err == nil && a.Token == "" {
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			warn("admin.address", "%s is reachable from other hosts and admin.token_file is not set: whoever reaches it reads the metrics and the health of every component (and the profiles, with pprof)", a.Address)
		}
	}
	if a.TokenFile != "" {
		if fi, err := os.Stat(a.TokenFile); err == nil && fi.Mode().Perm()&0o004 != 0 {
			warn("admin.token_file", "%s is readable by every user (mode %v)", a.TokenFile, fi.Mode().Perm())
		}
	}
	return out
}

// missing reports whether a stat error means the path does not exist
// (ENOTDIR: a file stands where a parent directory should be; the walk up
// finds it).
func missing(err error) bool { return errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ENOTDIR) }

// checkListen reports whether addr can be listened on now. A running
// drover holds its own address, so this is a warning, not an error.
func checkListen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("cannot listen on %s now (a running drover holds it, or another program): %w", addr, err)
	}
	return ln.Close()
}

var nomadConfigType = reflect.TypeFor[nomadclient.Config]()

// nomadBlocks returns the `nomad` blocks in a component's configuration:
// every nomadclient.Config value in it.
func nomadBlocks(cfg any) []nomadclient.Config {
	var out []nomadclient.Config
	var walk func(v reflect.Value, depth int)
	walk = func(v reflect.Value, depth int) {
		if depth > 8 {
			return
		}
		switch v.Kind() {
		case reflect.Pointer, reflect.Interface:
			if !v.IsNil() {
				walk(v.Elem(), depth+1)
			}
		case reflect.Struct:
			if v.Type() == nomadConfigType {
				out = append(out, v.Interface().(nomadclient.Config))
				return
			}
			for i := range v.NumField() {
				if v.Type().Field(i).IsExported() {
					walk(v.Field(i), depth+1)
				}
			}
		}
	}
	walk(reflect.ValueOf(cfg), 0)
	return out
}

// includeGlobs returns the `include` attribute of a source's configuration
// when it is a list of path patterns (the file source's globs).
func includeGlobs(cfg any) []string {
	v := reflect.ValueOf(cfg)
	for v.Kind() == reflect.Pointer && !v.IsNil() {
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return nil
	}
	for i := range v.NumField() {
		f := v.Type().Field(i)
		if name, _, _ := strings.Cut(f.Tag.Get("hcl"), ","); name == "include" && f.Type == reflect.TypeFor[[]string]() {
			return v.Field(i).Interface().([]string)
		}
	}
	return nil
}
