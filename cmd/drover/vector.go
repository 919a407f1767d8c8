package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/drover-dev/drover/internal/render/vector"
)

const vectorUsage = `drover vector writes a Vector configuration from this node's Nomad allocations
(see docs/vector.md).

Usage:
  drover vector render [--config FILE] [--out DIR] [--timeout 1m]
                                    write the configuration once and exit
  drover vector watch [--config FILE] [--out DIR]
                                    keep it current until SIGINT or SIGTERM

--config names an HCL file with a vector { ... } block; without it the
defaults apply and --out is required. --out overrides vector.out_dir.
SIGHUP makes watch load the configuration again (an invalid one is refused
and the running watch goes on).
`

// runVectorCommand runs `drover vector ...` until SIGINT or SIGTERM;
// SIGHUP reloads the configuration of watch.
func runVectorCommand(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	return runVector(ctx, args, stdout, stderr, hup)
}

// runVector runs `drover vector render` or `drover vector watch` until ctx
// ends, and returns the exit code. Every value on reload makes watch load
// its configuration again.
func runVector(ctx context.Context, args []string, stdout, stderr io.Writer, reload <-chan os.Signal) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, vectorUsage)
		return 2
	}
	sub := args[0]
	switch sub {
	case "render", "watch":
	case "help", "--help", "-help", "-h":
		fmt.Fprint(stdout, vectorUsage)
		return 0
	default:
		fmt.Fprintf(stderr, "drover vector: unknown command %q\n\n%s", sub, vectorUsage)
		return 2
	}
	fs := flag.NewFlagSet("vector "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file with a vector block (HCL)")
	out := fs.String("out", "", "directory to write to (overrides vector.out_dir)")
	var timeout *time.Duration
	if sub == "render" {
		timeout = fs.Duration("timeout", time.Minute, "how long to wait for the Nomad agent")
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "drover vector %s: unexpected arguments: %s\n", sub, strings.Join(fs.Args(), " "))
		return 2
	}
	outDir := *out
	if outDir != "" {
		abs, err := filepath.Abs(outDir)
		if err != nil {
			fmt.Fprintf(stderr, "drover vector %s: --out: %v\n", sub, err)
			return 2
		}
		outDir = abs
	}
	load := func() (vector.Config, error) {
		return vector.LoadFile(*path, func(c *vector.Config) {
			if outDir != "" {
				c.OutDir = outDir
			}
		})
	}
	cfg, err := load()
	if err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return 1
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	opts := vector.Options{Config: cfg, Logger: log}
	if sub == "watch" {
		if err := watchWithReload(ctx, opts, reload, load); err != nil {
			fmt.Fprintf(stderr, "drover vector watch: %v\n", err)
			return 1
		}
		return 0
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	rep, err := vector.Render(ctx, opts)
	if err != nil {
		fmt.Fprintf(stderr, "drover vector render: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: %d files (%d written, %d removed)\n", cfg.OutDir, len(rep.Files), len(rep.Written), len(rep.Removed))
	return 0
}
