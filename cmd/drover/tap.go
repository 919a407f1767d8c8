package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"syscall"
)

func tapCommand() command {
	return command{
		admin: true, name: "tap", synopsis: "drover tap [--address ADDR] <component> [--output NAME] [--limit N] [--sample N]",
		about: `Prints the events as they leave a source or a transform of a running drover,
one JSON object per line, to check what a transform makes of them. A
component's named output (a route's, a sink's dead letters) is tapped with
--output.

The pipeline never waits for tap: drover encodes every sampled event and
hands it over only when the viewer has room. Events a slow viewer had no
room for are lost to the viewer (never to the pipeline); tap reports them
on standard error, and drover counts them in
drover_tap_discarded_events_total. --sample N shows one event in N.

tap ends after --limit events, or on Ctrl-C. Exit 0 then, 1 when drover
refuses the tap (no such component or output), 2 on a usage error or when
drover cannot be asked.`,
		flags: func(fs *flag.FlagSet) func([]string, io.Writer, io.Writer) int {
			client := adminFlags(fs)
			output := fs.String("output", "", "the component's named output `NAME` instead of its default one")
			limit := fs.Int("limit", 0, "stop after `N` events (0: until interrupted)")
			sample := fs.Int("sample", 1, "show one event in `N`")
			return func(args []string, stdout, stderr io.Writer) int {
				if len(args) != 1 {
					fmt.Fprintln(stderr, "drover tap: name one component")
					return 2
				}
				if *limit < 0 || *sample < 1 {
					fmt.Fprintln(stderr, "drover tap: --limit must be at least 0 and --sample at least 1")
					return 2
				}
				c, err := client()
				if err != nil {
					fmt.Fprintf(stderr, "drover tap: %v\n", err)
					return 2
				}
				out := args[0]
				if *output != "" {
					out += "." + *output
				}
				ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
				defer stop()
				return tap(ctx, c, out, *limit, *sample, stdout, stderr)
			}
		},
	}
}

// tap streams /api/v1/tap to stdout and returns the exit status.
func tap(ctx context.Context, c *adminClient, output string, limit, sample int, stdout, stderr io.Writer) int {
	q := url.Values{"output": {output}, "limit": {strconv.Itoa(limit)}, "sample": {strconv.Itoa(sample)}}
	resp, err := c.get(ctx, "/api/v1/tap?"+q.Encode())
	if err != nil {
		if ctx.Err() != nil {
			return 0
		}
		fmt.Fprintf(stderr, "drover tap: %v\n", err)
		return 1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	w := bufio.NewWriter(stdout)
	defer w.Flush()
	n := 0
	for sc.Scan() {
		line := sc.Bytes()
		if ev, ok := bytes.CutPrefix(line, []byte(`{"event":`)); ok {
			w.Write(bytes.TrimSuffix(ev, []byte("}")))
			w.WriteByte('\n')
			w.Flush()
			n++
			if limit > 0 && n >= limit {
				return 0
			}
			continue
		}
		var lost struct {
			Lost uint64 `json:"lost"`
		}
		if json.Unmarshal(line, &lost) == nil && lost.Lost > 0 {
			fmt.Fprintf(stderr, "drover tap: %d sampled events lost so far: this viewer is slower than the pipeline (try --sample)\n", lost.Lost)
		}
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		fmt.Fprintf(stderr, "drover tap: reading the events: %v\n", err)
		return 1
	}
	return 0
}
