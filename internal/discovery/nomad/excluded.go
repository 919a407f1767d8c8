package nomad

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/drover-dev/drover/internal/discovery"
)

// Excluded is a task of an allocation on the node whose logs are not
// shipped, and the rule or hint that leaves it out.
type Excluded struct {
	AllocID   string `json:"alloc_id"`
	Namespace string `json:"namespace"`
	Job       string `json:"job"`
	Group     string `json:"group"`
	Task      string `json:"task"`
	// Rule names what excludes it: `exclude.tasks "connect-proxy-*"`,
	// `include.jobs (no pattern matches)`, `meta drover.exclude = "true"`.
	Rule string `json:"rule"`
}

// Why returns the rule or hint that leaves the task out, or "" when it is
// selected (see Selected, whose decision it explains).
func (s *Selector) Why(sub Subject) string {
	if v, ok := metaBool(sub.Meta, EnabledMetaKey); ok && !v {
		return fmt.Sprintf("meta %s = %q", EnabledMetaKey, sub.Meta[EnabledMetaKey])
	}
	if v, ok := metaBool(sub.Meta, ExcludeMetaKey); ok && v {
		return fmt.Sprintf("meta %s = %q", ExcludeMetaKey, sub.Meta[ExcludeMetaKey])
	}
	if s == nil {
		return ""
	}
	in := s.include
	switch {
	case len(in.Namespaces) > 0 && !anyMatch(in.Namespaces, sub.Namespace):
		return discovery.NoPatternMatches("include.namespaces", in.Namespaces)
	case len(in.Jobs) > 0 && !matchJob(in.Jobs, sub.Job, sub.ParentJob):
		return discovery.NoPatternMatches("include.jobs", in.Jobs)
	case len(in.Groups) > 0 && !anyMatch(in.Groups, sub.Group):
		return discovery.NoPatternMatches("include.groups", in.Groups)
	case len(in.Tasks) > 0 && !anyMatch(in.Tasks, sub.Task):
		return discovery.NoPatternMatches("include.tasks", in.Tasks)
	}
	ex := s.exclude
	jobs := []string{sub.Job}
	if sub.ParentJob != "" {
		jobs = append(jobs, sub.ParentJob)
	}
	for _, d := range []struct {
		name     string
		patterns []string
		values   []string
	}{
		{"namespaces", ex.Namespaces, []string{sub.Namespace}},
		{"jobs", ex.Jobs, jobs},
		{"groups", ex.Groups, []string{sub.Group}},
		{"tasks", ex.Tasks, []string{sub.Task}},
	} {
		for _, p := range d.patterns {
			for _, v := range d.values {
				if anyMatch([]string{p}, v) {
					return fmt.Sprintf("exclude.%s %q", d.name, p)
				}
			}
		}
	}
	return ""
}

// Excluded lists the tasks of the node's allocations that the selection
// (include, exclude, the drover.enabled and drover.exclude hints) leaves
// out, as the API last described them, sorted by allocation and task. Safe
// to call at any time.
func (w *Watcher) Excluded() []Excluded {
	w.stateMu.RLock()
	var out []Excluded
	for _, s := range w.known {
		out = append(out, s.group.Excluded...)
	}
	w.stateMu.RUnlock()
	slices.SortFunc(out, func(a, b Excluded) int { return cmp.Or(cmp.Compare(a.AllocID, b.AllocID), cmp.Compare(a.Task, b.Task)) })
	return out
}
