package nomad

import (
	"errors"
	"strconv"
	"strings"

	"github.com/bmatcuk/doublestar/v4"

	"github.com/drover-dev/drover/internal/config"
)

// EnabledMetaKey is the Nomad meta key that opts a job, group or task out of
// shipping: meta { "drover.enabled" = "false" }. The job, group and task
// meta are merged first (the task's value wins over the group's, the group's
// over the job's), so a task can opt back in with "true" when its job opted
// out.
const EnabledMetaKey = "drover.enabled"

// ExcludeMetaKey is the per-workload hint that leaves a job's, group's or
// task's logs unread: meta { "drover.exclude" = "true" }, beside the hints
// drover.parser and drover.multiline that the transforms read. Like
// drover.enabled it is read from the merged meta, so a task can set
// "false" to be read when its job is excluded.
const ExcludeMetaKey = "drover.exclude"

// Selection is an `include` or `exclude` block: glob patterns per
// dimension, in the syntax of the file source (*, ?, [a-z], {a,b}).
//
//	include { namespaces = ["apps", "web-*"] }
//	exclude { tasks = ["connect-proxy-*"] }
//
// A job pattern is matched against the job's ID and, for dispatched and
// periodic children ("backup/dispatch-1700000000-1a2b3c4d"), also against
// the parent's ID, so "backup" selects every child of "backup".
type Selection struct {
	Namespaces []string `hcl:"namespaces"`
	Jobs       []string `hcl:"jobs"`
	Groups     []string `hcl:"groups"`
	Tasks      []string `hcl:"tasks"`
}

// Validate checks every pattern; errors name the attribute.
func (s Selection) Validate() error {
	var errs []error
	for _, d := range s.dimensions() {
		for i, p := range d.patterns {
			if p == "" {
				errs = append(errs, config.Errorf(d.name, "pattern %d is empty", i+1))
			} else if !doublestar.ValidatePattern(p) {
				errs = append(errs, config.Errorf(d.name, "pattern %d (%q) is not a valid glob", i+1, p))
			}
		}
	}
	return errors.Join(errs...)
}

type dimension struct {
	name     string
	patterns []string
}

func (s Selection) dimensions() [4]dimension {
	return [4]dimension{
		{"namespaces", s.Namespaces},
		{"jobs", s.Jobs},
		{"groups", s.Groups},
		{"tasks", s.Tasks},
	}
}

// Subject is what the selection rules look at for one task.
type Subject struct {
	Namespace string
	Job       string
	ParentJob string
	Group     string
	Task      string
	// Meta is the merged job < group < task meta.
	Meta map[string]string
}

// Selector decides which tasks are shipped. The zero value and a nil
// *Selector select every task that did not opt out through meta.
type Selector struct {
	include Selection
	exclude Selection
}

// NewSelector returns a selector for validated include and exclude blocks.
func NewSelector(include, exclude Selection) (*Selector, error) {
	if err := include.Validate(); err != nil {
		return nil, config.Prefix("include", err)
	}
	if err := exclude.Validate(); err != nil {
		return nil, config.Prefix("exclude", err)
	}
	return &Selector{include: include, exclude: exclude}, nil
}

// Selected reports whether the task's logs are shipped: every include
// dimension that has patterns must match, no exclude pattern may match, and
// the merged meta must not set drover.enabled to false. An exclude pattern
// wins over drover.enabled = "true".
func (s *Selector) Selected(sub Subject) bool { return s.Why(sub) == "" }

// OptedOut reports whether merged meta turns shipping off: drover.enabled
// holds a false value or drover.exclude a true one ("false", "0", "f",
// "true", "1", "t", as strconv.ParseBool reads them, surrounding spaces and
// case ignored). Values that are not booleans do not opt out.
func OptedOut(meta map[string]string) bool {
	if b, ok := metaBool(meta, EnabledMetaKey); ok && !b {
		return true
	}
	b, ok := metaBool(meta, ExcludeMetaKey)
	return ok && b
}

func metaBool(meta map[string]string, key string) (value, ok bool) {
	v, set := meta[key]
	if !set {
		return false, false
	}
	b, err := strconv.ParseBool(strings.ToLower(strings.TrimSpace(v)))
	return b, err == nil
}

func matchJob(patterns []string, job, parent string) bool {
	return anyMatch(patterns, job) || parent != "" && anyMatch(patterns, parent)
}

func anyMatch(patterns []string, name string) bool {
	for _, p := range patterns {
		if doublestar.MatchUnvalidated(p, name) {
			return true
		}
	}
	return false
}
