// Command drover ships logs and events from Nomad clusters.
//
//	drover run [--config FILE]       run the pipeline (built-in default without --config)
//	drover validate [--config FILE]  check a configuration and exit
//	drover test FILE...              run the test blocks of configurations
//	drover default-config            print the built-in configuration
//	drover vector render|watch       write a Vector configuration (docs/vector.md)
//	drover version                   print the version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"

	"github.com/drover-dev/drover/internal/agent"
	"github.com/drover-dev/drover/internal/pipelinetest"
	_ "github.com/drover-dev/drover/internal/plugins"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

const usage = `drover ships logs and events from Nomad clusters.

Usage:
  drover run [--config FILE]        run the pipeline; without --config, the built-in
                                    configuration (see 'drover default-config')
  drover validate [--config FILE]   check a configuration; exit 0 if valid
  drover test FILE...               run the test blocks of configuration files
  drover default-config             print the built-in configuration
  drover vector render|watch [...]  write a Vector configuration from this node's
                                    allocations (see 'drover vector help')
  drover version                    print the version

Signals: SIGHUP reloads the configuration; SIGINT and SIGTERM stop after
delivering what was read (up to shutdown_timeout).
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "run":
		opts, code := parseConfigFlag("run", args[1:], stderr)
		if code >= 0 {
			return code
		}
		opts.LogOutput = stderr
		if err := agent.Run(context.Background(), opts); err != nil {
			fmt.Fprintf(stderr, "drover: %v\n", err)
			return 1
		}
		return 0
	case "validate":
		opts, code := parseConfigFlag("validate", args[1:], stderr)
		if code >= 0 {
			return code
		}
		cfg, err := agent.LoadConfig(opts)
		if err != nil {
			fmt.Fprintf(stderr, "%v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "%s: valid (%d sources, %d transforms, %d sinks)\n",
			cfg.Path, len(cfg.Sources()), len(cfg.Transforms()), len(cfg.Sinks()))
		return 0
	case "test":
		return pipelinetest.Main(args[1:], stdout, stderr)
	case "default-config":
		fmt.Fprint(stdout, agent.DefaultConfig)
		return 0
	case "vector":
		return runVectorCommand(args[1:], stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintf(stdout, "drover %s\n", versionString())
		return 0
	case "help", "--help", "-help", "-h":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "drover: unknown command %q\n\n%s", args[0], usage)
	return 2
}

// parseConfigFlag parses --config. It returns code -1 to go on, or the exit
// code to return.
func parseConfigFlag(cmd string, args []string, stderr io.Writer) (agent.Options, int) {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file (HCL)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return agent.Options{}, 0
		}
		return agent.Options{}, 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "drover %s: unexpected arguments: %s\n", cmd, strings.Join(fs.Args(), " "))
		return agent.Options{}, 2
	}
	return agent.Options{ConfigPath: *path}, -1
}

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		v := bi.Main.Version
		var rev, dirty string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					dirty = "-dirty"
				}
			}
		}
		if rev != "" {
			if len(rev) > 12 {
				rev = rev[:12]
			}
			return fmt.Sprintf("%s (%s%s, %s)", v, rev, dirty, bi.GoVersion)
		}
		return fmt.Sprintf("%s (%s)", v, bi.GoVersion)
	}
	return "unknown"
}
