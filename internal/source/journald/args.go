package journald

import (
	"fmt"
	"maps"
	"slices"
	"time"
)

// start is where a run of journalctl begins.
type origin struct {
	// cursor, when set, starts after the entry it names.
	cursor string
	// since, when not zero (and cursor is empty), starts with the entries
	// written at or after it.
	since time.Time
	// now starts with the entries written from now on.
	now bool
	// Without any of them: the oldest entry the journal holds.
}

// String describes the start for logs.
func (s origin) String() string {
	switch {
	case s.cursor != "":
		return "after cursor " + s.cursor
	case !s.since.IsZero():
		return "from " + s.since.UTC().Format(time.RFC3339Nano)
	case s.now:
		return "with new entries"
	}
	return "from the oldest entry"
}

// followArgs returns journalctl's arguments for following the journal from
// st with the configured selection.
//
// A cursor is passed with --cursor, which starts at the cursor's own
// entry; the source drops that entry when it sees it (see session). It does
// not use --after-cursor: journalctl then skips one entry after seeking
// whether or not it is the cursor's, and so loses an entry when the
// cursor's entry is gone or no longer selected (a new boot with
// current_boot_only, changed units).
//
// --no-tail is passed with every start but "now": following otherwise
// shows at most the last 10 entries. --merge is passed unless
// current_boot_only is set, because following otherwise implies --boot and
// would skip entries of earlier boots that were not shipped yet.
//
// Units and include matches are passed to journalctl as one disjunction:
// each field is its own group, groups are joined with "+", so an entry is
// read when any group matches (journalctl ORs the values of one field
// within a group). Exclusions are applied by the source: journalctl has no
// negative matches.
func (c *Config) followArgs(st origin) []string {
	args := c.baseArgs()
	args = append(args, "--follow", "--show-cursor")
	if c.CurrentBootOnly {
		args = append(args, "--boot")
	}
	switch {
	case st.cursor != "":
		args = append(args, "--cursor="+st.cursor, "--no-tail")
	case !st.since.IsZero():
		args = append(args, "--since="+sinceArg(st.since), "--no-tail")
	case st.now:
		args = append(args, "--lines=0")
	default:
		args = append(args, "--no-tail")
	}
	return append(args, c.matchArgs()...)
}

// checkArgs returns journalctl's arguments for showing the entry at cursor
// (if the journal still holds it) or the one after, without selection:
// the entry at a cursor exists or not, whatever the filters say.
func (c *Config) checkArgs(cursor string) []string {
	return append(c.baseArgs(), "--cursor="+cursor, "--lines=1")
}

// baseArgs are the arguments of every run.
func (c *Config) baseArgs() []string {
	args := []string{"--output=json", "--all", "--no-pager"}
	if c.JournalDirectory != "" {
		args = append(args, "--directory="+c.JournalDirectory)
	}
	if !c.CurrentBootOnly {
		args = append(args, "--merge")
	}
	return args
}

// matchArgs returns the units and include matches as journalctl match
// arguments.
func (c *Config) matchArgs() []string {
	var groups [][]string
	if len(c.Units) > 0 {
		g := make([]string, 0, len(c.Units))
		for _, u := range c.Units {
			g = append(g, "_SYSTEMD_UNIT="+unitName(u))
		}
		groups = append(groups, g)
	}
	for _, k := range slices.Sorted(maps.Keys(c.IncludeMatches)) {
		g := make([]string, 0, len(c.IncludeMatches[k]))
		for _, v := range c.IncludeMatches[k] {
			g = append(g, k+"="+v)
		}
		groups = append(groups, g)
	}
	var out []string
	for i, g := range groups {
		if i > 0 {
			out = append(out, "+")
		}
		out = append(out, g...)
	}
	return out
}

// sinceArg formats t for --since: "@" and seconds with microseconds.
func sinceArg(t time.Time) string {
	us := t.UnixMicro()
	return fmt.Sprintf("@%d.%06d", us/1e6, us%1e6)
}
