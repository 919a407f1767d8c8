// Command drover ships logs and events from Nomad clusters.
//
//	drover run [-c FILE|DIR]... [FILE|DIR]...       run the pipeline
//	drover validate [--check] [-c FILE|DIR]...      check a configuration and exit
//	drover test FILE...                             run the test blocks of configurations
//	drover default-config                           print the built-in configuration
//	drover vector render|watch                      write a Vector configuration (docs/vector.md)
//	drover top | tap | explain                      look at a running drover (docs/observability.md)
//	drover version                                  print the version
//	drover help [COMMAND]                           help, with flags, environment and signals
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/drover-dev/drover/internal/agent"
	"github.com/drover-dev/drover/internal/buildinfo"
	"github.com/drover-dev/drover/internal/config"
	"github.com/drover-dev/drover/internal/pipelinetest"
	_ "github.com/drover-dev/drover/internal/plugins"
)

const usage = `drover ships logs and events from Nomad clusters.

Usage:
  drover run [-c FILE|DIR]... [FILE|DIR]...
                       run the pipeline; without a configuration, the built-in one
                       (see 'drover default-config')
  drover validate [--check] [-c FILE|DIR]... [FILE|DIR]...
                       check a configuration; exit 0 if drover would run it
  drover test FILE...  run the test blocks of configuration files
  drover default-config
                       print the built-in configuration
  drover vector render|watch [...]
                       write a Vector configuration from this node's allocations
  drover top           a running drover's components and targets, live, in the terminal
  drover tap COMPONENT print the events leaving a component of a running drover
  drover explain ALLOC-ID|JOB/TASK|PATH|POD
                       is it shipped? which source owns it, its state and lag
  drover version       print the version, commit, build date and Go version
  drover help COMMAND  a command's flags, environment variables and signals
`

// envHelp lists the environment variables every configuration-loading
// command reads.
var envHelp = []string{
	config.EnvDataDir + "\tdefault of data_dir (a data_dir in the configuration wins)",
	config.EnvAdminAddress + "\tdefault of admin.address (an address in the configuration wins)",
	"NOMAD_ADDR, NOMAD_TOKEN, ...\tthe Nomad API, for nomad blocks that leave them out (docs/nomad.md)",
}

const signalHelp = `Signals:
  SIGHUP            reload the configuration (an invalid one is refused; the running one stays)
  SIGINT, SIGTERM   stop: sources stop reading, sinks deliver what they hold for up to
                    shutdown_timeout, positions are saved, exit 0. /ready answers 503 at
                    once. The same signal again within 0.5s (timeout(1) and a terminal
                    signal the whole process group) is the same request; one later exits
                    at once with code 1 (what was not delivered is read again at the
                    next start).
`

// command is one subcommand.
type command struct {
	name, synopsis, about string
	// flags defines the command's flags on fs and returns the function
	// that runs it with the positional arguments.
	flags   func(fs *flag.FlagSet) func(args []string, stdout, stderr io.Writer) int
	env     bool // reads the configuration: show the environment variables
	admin   bool // asks a running drover: show the admin client's variables
	signals bool
	// passthrough: the command parses its arguments itself; flags
	// defines none and gets them as they were given.
	passthrough bool
}

func commands() []command {
	return []command{
		{
			name: "run", synopsis: "drover run [-c FILE|DIR]... [FILE|DIR]...", env: true, signals: true,
			about: `Runs the pipeline the configuration describes until SIGINT or SIGTERM. Several
files, or directories of *.hcl files, are merged into one configuration.
Without any, drover runs its built-in configuration ('drover default-config').`,
			flags: func(fs *flag.FlagSet) func([]string, io.Writer, io.Writer) int {
				paths := configFlag(fs)
				return func(args []string, _, stderr io.Writer) int {
					opts := agent.Options{ConfigPaths: append(*paths, args...), LogOutput: stderr}
					if err := agent.Run(context.Background(), opts); err != nil {
						fmt.Fprintf(stderr, "drover: %v\n", err)
						return 1
					}
					return 0
				}
			},
		},
		{
			name: "validate", synopsis: "drover validate [--check] [--print] [-c FILE|DIR]... [FILE|DIR]...", env: true,
			about: `Checks a configuration as 'drover run' would: every block and attribute, the
wiring, the admin address, data_dir (a directory this user can write, or can
create), and the construction of every component (TLS files, journalctl, the
Nomad client's settings). Nothing is started and no state is written.
With --check it also connects: each sink's health check, the Nomad API and
its token, and the files each file source's include globs match (a glob that
matches nothing is a warning). --print writes the configuration as drover
runs it, every default filled in and every secret redacted, as JSON on
standard output. Exit 0 when valid (warnings included), 1 when not, 2 on a
usage error.`,
			flags: func(fs *flag.FlagSet) func([]string, io.Writer, io.Writer) int {
				paths := configFlag(fs)
				check := fs.Bool("check", false, "also connect: sinks' health checks, the Nomad API and token, globs")
				timeout := fs.Duration("timeout", 10*time.Second, "with --check, how long each connection may take")
				print := fs.Bool("print", false, "print the configuration as drover runs it (defaults filled in, secrets redacted), as JSON")
				return func(args []string, stdout, stderr io.Writer) int {
					return validate(append(*paths, args...), *check, *print, *timeout, stdout, stderr)
				}
			},
		},
		{
			name: "test", synopsis: "drover test FILE...", passthrough: true,
			about: `Runs the test blocks of configuration files: events given to a component go
through the pipeline, and what comes out is compared with what the block
expects. Exit 0 when every test passes.`,
			flags: func(*flag.FlagSet) func([]string, io.Writer, io.Writer) int {
				return func(args []string, stdout, stderr io.Writer) int {
					return pipelinetest.Main(args, stdout, stderr)
				}
			},
		},
		{
			name: "default-config", synopsis: "drover default-config",
			about: "Prints the built-in configuration, which 'drover run' uses without a configuration.",
			flags: func(*flag.FlagSet) func([]string, io.Writer, io.Writer) int {
				return func(args []string, stdout, stderr io.Writer) int {
					if len(args) > 0 {
						return unexpected("default-config", args, stderr)
					}
					fmt.Fprint(stdout, agent.DefaultConfig)
					return 0
				}
			},
		},
		topCommand(),
		tapCommand(),
		explainCommand(),
		{
			name: "version", synopsis: "drover version",
			about: "Prints the version, the commit, the build date, and the Go version and platform.",
			flags: func(*flag.FlagSet) func([]string, io.Writer, io.Writer) int {
				return func(args []string, stdout, stderr io.Writer) int {
					if len(args) > 0 {
						return unexpected("version", args, stderr)
					}
					fmt.Fprint(stdout, buildinfo.Get().String())
					return 0
				}
			},
		},
	}
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	name, rest := args[0], args[1:]
	switch name {
	case "vector":
		return runVectorCommand(rest, stdout, stderr)
	case "--version", "-version":
		name = "version"
	case "help", "--help", "-help", "-h":
		return help(rest, stdout, stderr)
	}
	for _, c := range commands() {
		if c.name != name {
			continue
		}
		fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		exec := c.flags(fs)
		if c.passthrough {
			return exec(rest, stdout, stderr)
		}
		positional, err := parseInterleaved(fs, rest)
		if errors.Is(err, flag.ErrHelp) {
			writeHelp(c, stdout)
			return 0
		}
		if err != nil {
			fmt.Fprintf(stderr, "drover %s: %v\n\n", c.name, err)
			writeHelp(c, stderr)
			return 2
		}
		return exec(positional, stdout, stderr)
	}
	fmt.Fprintf(stderr, "drover: unknown command %q\n\n%s", name, usage)
	return 2
}

// help prints the overview, or one command's help.
func help(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stdout, usage)
		return 0
	}
	if args[0] == "vector" {
		fmt.Fprint(stdout, vectorUsage)
		return 0
	}
	for _, c := range commands() {
		if c.name == args[0] {
			writeHelp(c, stdout)
			return 0
		}
	}
	fmt.Fprintf(stderr, "drover help: unknown command %q\n\n%s", args[0], usage)
	return 2
}

// writeHelp prints a command's usage, what it does, its flags, the
// environment variables it reads and the signals it answers.
func writeHelp(c command, w io.Writer) {
	fmt.Fprintf(w, "Usage: %s\n\n%s\n", c.synopsis, c.about)
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	c.flags(fs)
	// Flags that share a value (-c and -config) are shown on one line.
	type entry struct {
		names      []string
		arg, usage string
		def        string
	}
	var entries []*entry
	byUsage := map[string]*entry{}
	fs.VisitAll(func(f *flag.Flag) {
		if e, ok := byUsage[f.Usage]; ok {
			e.names = append(e.names, f.Name)
			return
		}
		arg, text := flag.UnquoteUsage(f)
		e := &entry{names: []string{f.Name}, arg: arg, usage: text, def: f.DefValue}
		byUsage[f.Usage] = e
		entries = append(entries, e)
	})
	if len(entries) > 0 {
		fmt.Fprintln(w, "\nFlags:")
		for _, e := range entries {
			sort.Slice(e.names, func(i, j int) bool { return len(e.names[i]) < len(e.names[j]) })
			var names []string
			for _, n := range e.names {
				if len(n) == 1 {
					names = append(names, "-"+n)
				} else {
					names = append(names, "--"+n)
				}
			}
			line := "  " + strings.Join(names, ", ")
			if e.arg != "" {
				line += " " + e.arg
			}
			if e.def != "" && e.def != "false" && e.def != "[]" {
				line += " (default " + e.def + ")"
			}
			fmt.Fprintf(w, "%s\n      %s\n", line, e.usage)
		}
	}
	if env := c.envHelp(); len(env) > 0 {
		fmt.Fprintln(w, "\nEnvironment:")
		for _, e := range env {
			name, text, _ := strings.Cut(e, "\t")
			fmt.Fprintf(w, "  %s\n      %s\n", name, text)
		}
	}
	if c.signals {
		fmt.Fprint(w, "\n"+signalHelp)
	}
}

// pathList is a repeatable flag of configuration paths.
type pathList []string

func (p *pathList) String() string { return strings.Join(*p, ",") }

func (p *pathList) Set(v string) error {
	if v == "" {
		return errors.New("empty path")
	}
	*p = append(*p, v)
	return nil
}

// configFlag defines -c and --config on fs.
func configFlag(fs *flag.FlagSet) *[]string {
	var p pathList
	const text = "configuration `FILE|DIR` (a file, or a directory of *.hcl files); repeat to merge several"
	fs.Var(&p, "c", text)
	fs.Var(&p, "config", text)
	return (*[]string)(&p)
}

// parseInterleaved parses flags that may come before, between and after
// the positional arguments (drover validate drover.hcl --check), and
// returns the positional ones. Everything after "--" is positional.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(positional, rest...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

func unexpected(cmd string, args []string, stderr io.Writer) int {
	fmt.Fprintf(stderr, "drover %s: unexpected arguments: %s\n", cmd, strings.Join(args, " "))
	return 2
}

// validate loads the configuration and checks it (see agent.Check).
func validate(paths []string, connect, print bool, timeout time.Duration, stdout, stderr io.Writer) int {
	opts := agent.Options{ConfigPaths: paths}
	cfg, err := agent.LoadConfig(opts)
	if err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return 1
	}
	ctx := context.Background()
	findings := agent.Check(ctx, cfg, agent.CheckOptions{Connect: connect, Timeout: timeout,
		Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	errs := 0
	for _, f := range findings {
		fmt.Fprintln(stderr, f.String())
		if f.Severity == agent.SeverityError {
			errs++
		}
	}
	if errs > 0 {
		fmt.Fprintf(stderr, "%s: %d error(s)\n", cfg.Path, errs)
		return 1
	}
	what := "valid"
	if connect {
		what = "valid, and every check passed"
		if len(findings) > 0 {
			what = fmt.Sprintf("valid, %d warning(s)", len(findings))
		}
	} else if len(findings) > 0 {
		what = fmt.Sprintf("valid, %d warning(s)", len(findings))
	}
	summary := stdout
	if print {
		b, err := cfg.Dump()
		if err != nil {
			fmt.Fprintf(stderr, "drover validate: %v\n", err)
			return 1
		}
		stdout.Write(append(b, '\n'))
		summary = stderr // standard output holds only the JSON
	}
	fmt.Fprintf(summary, "%s: %s (%d sources, %d transforms, %d sinks)\n",
		cfg.Path, what, len(cfg.Sources()), len(cfg.Transforms()), len(cfg.Sinks()))
	return 0
}
