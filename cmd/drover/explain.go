package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/drover-dev/drover/internal/status"
)

// Exit statuses of drover explain.
const (
	explainShipped    = 0
	explainNotShipped = 1
	explainUsage      = 2
)

func explainCommand() command {
	return command{
		name: "explain", synopsis: "drover explain [--address ADDR] [--wait DURATION] <alloc-id | job/task | path | namespace/pod>",
		about: `Asks a running drover about a task, a file or a pod: which source owns it,
whether it is excluded and by which rule or hint, its streams with their
state, position, bytes behind and the time of the last line read and
acknowledged, and the sinks downstream with their last delivery.

An allocation id may be shortened to its first 8 characters; job/task names
a Nomad task (every allocation of it on this node), a path a file or a
directory of files, namespace/pod a Kubernetes pod. A job or a pod name
alone matches too.

Exit status: 0 when everything written to the streams it names was read and
acknowledged by every sink (shipped); 1 when something is not shipped (not
followed, excluded, behind, in flight, unreadable); 2 on a usage error or
when drover cannot be asked. With --wait, explain asks again until it is
shipped or the time runs out.`,
		admin: true,
		flags: func(fs *flag.FlagSet) func([]string, io.Writer, io.Writer) int {
			client := adminFlags(fs)
			wait := fs.Duration("wait", 0, "ask again until shipped, for up to `DURATION`")
			return func(args []string, stdout, stderr io.Writer) int {
				if len(args) != 1 {
					fmt.Fprintln(stderr, "drover explain: name one alloc id, job/task, path or pod")
					return explainUsage
				}
				c, err := client()
				if err != nil {
					fmt.Fprintf(stderr, "drover explain: %v\n", err)
					return explainUsage
				}
				return explain(context.Background(), c, args[0], *wait, stdout, stderr)
			}
		},
	}
}

// explain prints what drover knows of what and returns the exit status.
func explain(ctx context.Context, c *adminClient, what string, wait time.Duration, stdout, stderr io.Writer) int {
	deadline := time.Now().Add(wait)
	for {
		st, err := c.status(ctx)
		if err != nil {
			fmt.Fprintf(stderr, "drover explain: %v\n", err)
			return explainUsage
		}
		ts := matchTargets(st.Targets, what)
		shipped := len(ts) > 0
		for _, t := range ts {
			shipped = shipped && t.Shipped()
		}
		if shipped || !time.Now().Before(deadline) {
			writeExplanation(stdout, st, what, ts)
			if shipped {
				return explainShipped
			}
			return explainNotShipped
		}
		time.Sleep(min(time.Second, time.Until(deadline)))
	}
}

var numberedLog = regexp.MustCompile(`\.\d+$`)

// matchTargets returns the targets what names.
func matchTargets(ts []status.Target, what string) []status.Target {
	var out []status.Target
	for _, t := range ts {
		if targetMatches(t, what) {
			out = append(out, t)
		}
	}
	return out
}

func targetMatches(t status.Target, what string) bool {
	l := t.Labels
	if t.Key == what {
		return true
	}
	if strings.HasPrefix(what, "/") {
		p := filepath.Clean(what)
		return t.Path == p || l["file"] == p || strings.HasPrefix(t.Path, p+"/") ||
			numberedLog.MatchString(p) && numberedLog.ReplaceAllString(p, "") == numberedLog.ReplaceAllString(t.Path, "")
	}
	if id := l["alloc_id"]; id != "" && (id == what || len(what) >= 8 && strings.HasPrefix(id, what)) {
		return true
	}
	if uid := l["pod_uid"]; uid != "" && uid == what {
		return true
	}
	if a, b, ok := strings.Cut(what, "/"); ok {
		return l["job"] == a && l["task"] == b || l["namespace"] == a && l["pod"] == b
	}
	return l["job"] == what || l["pod"] == what
}

// verdict says in a few words whether a target is shipped, and if not why.
func verdict(t status.Target) string {
	switch t.State {
	case status.StateExcluded:
		return "not shipped: excluded by " + t.Reason
	case status.StateFailing:
		return "not shipped: cannot be read: " + t.Reason
	case status.StateWaitingMetadata:
		return "not shipped yet: its files are held open until the API describes it"
	case status.StateWaitingRoom:
		return "not shipped yet: waiting for room under max_open_files"
	}
	switch {
	case t.BytesBehind > 0:
		return fmt.Sprintf("behind: %s written and not read yet", byteSize(float64(t.BytesBehind)))
	case t.Unacknowledged:
		return "in flight: read, not yet acknowledged by every sink"
	}
	return "shipped: everything written was read and acknowledged"
}

func writeExplanation(w io.Writer, st status.Status, what string, ts []status.Target) {
	if len(ts) == 0 {
		fmt.Fprintf(w, "%s: no source of this drover (%s) follows it.\n", what, st.Host)
		var srcs []string
		for _, c := range st.Components {
			if c.Kind == "source" {
				srcs = append(srcs, fmt.Sprintf("%s (%s, %d targets)", c.ID, c.Type, c.Targets))
			}
		}
		fmt.Fprintf(w, "  sources: %s\n", strings.Join(srcs, ", "))
		fmt.Fprintln(w, "  An allocation of another node, a task not started yet, or a path no include glob matches is not followed.")
		return
	}
	now := st.Time
	for i, t := range ts {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%s\n", targetTitle(t))
		src := findComponent(st, "source", t.Component)
		row := func(k, v string) { fmt.Fprintf(w, "  %-18s %s\n", k+":", v) }
		if src != nil {
			row("source", fmt.Sprintf("%s (%s)", src.ID, src.Type))
		}
		state := t.State
		if t.Reason != "" {
			state += " (" + t.Reason + ")"
		}
		row("state", state)
		if t.State != status.StateExcluded {
			if t.Path != "" {
				row("file", t.Path)
			}
			row("position", fmt.Sprintf("read %d, acknowledged %d", t.ReadOffset, t.Acknowledged))
			row("behind", byteSize(float64(t.BytesBehind)))
			row("last line read", agoText(now, t.LastRead))
			if t.LastAcknowledged.IsZero() && t.Acknowledged > 0 {
				row("last acknowledged", "not since drover started (acknowledged before)")
			} else {
				row("last acknowledged", agoText(now, t.LastAcknowledged))
			}
			for _, s := range downstreamSinks(st, t.Component) {
				line := fmt.Sprintf("%s (%s) %s, last delivery %s", s.ID, s.Type, s.State, agoText(now, sinkLast(s)))
				if s.Sink != nil && s.Sink.Retrying {
					line += fmt.Sprintf("; retrying since %s: %s", agoText(now, s.Sink.Since), s.Sink.LastError)
				}
				row("sink", line)
			}
		}
		row("verdict", verdict(t))
	}
}

func targetTitle(t status.Target) string {
	l := t.Labels
	switch t.Kind {
	case status.TargetNomadStream:
		return fmt.Sprintf("task %s/%s %s, allocation %s (namespace %s)", l["job"], l["task"], l["stream"], l["alloc_id"], l["namespace"])
	case status.TargetPod:
		return fmt.Sprintf("pod %s/%s container %s", l["namespace"], l["pod"], l["container"])
	case status.TargetJournal:
		return "the systemd journal"
	}
	if t.Path != "" {
		return "file " + t.Path
	}
	return t.Kind + " " + t.Key
}

func findComponent(st status.Status, kind, id string) *status.Component {
	for i := range st.Components {
		if st.Components[i].Kind == kind && st.Components[i].ID == id {
			return &st.Components[i]
		}
	}
	return nil
}

// downstreamSinks lists the sinks that what the source emits can reach.
func downstreamSinks(st status.Status, source string) []status.Component {
	reached := map[string]bool{source: true}
	for changed := true; changed; {
		changed = false
		for _, c := range st.Components {
			if c.Kind == "source" || reached[c.Kind+"/"+c.ID] {
				continue
			}
			for _, in := range c.Inputs {
				owner := in
				if !reached[owner] {
					if i := strings.LastIndex(in, "."); i > 0 {
						owner = in[:i]
					}
				}
				if reached[owner] {
					reached[c.Kind+"/"+c.ID] = true
					if c.Kind == "transform" {
						reached[c.ID] = true
					}
					changed = true
					break
				}
			}
		}
	}
	var out []status.Component
	for _, c := range st.Components {
		if c.Kind == "sink" && reached["sink/"+c.ID] {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b status.Component) int { return strings.Compare(a.ID, b.ID) })
	return out
}

func sinkLast(c status.Component) time.Time {
	if c.Sink == nil {
		return time.Time{}
	}
	return c.Sink.LastDelivery
}

func agoText(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t).Round(time.Second)
	if d < time.Second {
		return "just now"
	}
	return d.String() + " ago"
}

func byteSize(n float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for n >= 1024 && i < len(units)-1 {
		n /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%.0f B", n)
	}
	return fmt.Sprintf("%.1f %s", n, units[i])
}
