package nomad

import (
	"bytes"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hashicorp/nomad/api"

	"github.com/drover-dev/drover/internal/event"
)

// Target is one task log stream to ship: allocation x task x stream.
type Target struct {
	AllocID string
	Task    string
	Stream  Stream
	// LogsDir is <alloc_dir>/<alloc_id>/alloc/logs; the stream's files are
	// the names in it that MatchFile accepts.
	LogsDir string
	// Meta is the stream's metadata, built once and shared by every event
	// of the stream. A rebuilt group reuses the previous *event.Meta of a
	// target whose metadata did not change.
	Meta *event.Meta
	// TaskState is the task's state: "pending", "running", "dead", or ""
	// when the client has not reported the task yet.
	TaskState string
	// Lifecycle is the task's lifecycle hook (prestart, poststart,
	// poststop), "" for a main task; Sidecar is its sidecar flag.
	Lifecycle string
	Sidecar   bool
}

// Key identifies the target: "<alloc_id>/<task>/<stream>".
func (t *Target) Key() string { return t.AllocID + "/" + t.Task + "/" + string(t.Stream) }

// MatchFile reports whether the base name is one of the target's files,
// and returns its number N (see MatchLogFile).
func (t *Target) MatchFile(name string) (n uint64, ok bool) {
	return MatchLogFile(name, t.Task, t.Stream)
}

// Path returns the path of the target's file number n.
func (t *Target) Path(n uint64) string {
	return filepath.Join(t.LogsDir, LogFileName(t.Task, t.Stream, n))
}

// Group is the state of one allocation, keyed by AllocID. A group replaces
// the previous group of the same allocation as a whole. Groups are
// read-only: their Targets may be shared with the watcher and with other
// groups.
//
// A group with no targets means there is nothing (more) to ship from the
// allocation. Gone tells why: true when the allocation left the node's
// list (garbage collected: its directory is deleted or about to be), false
// when its tasks are not selected (include/exclude, drover.enabled).
type Group struct {
	AllocID string
	Targets []Target
	// Gone is set when the allocation is no longer in the node's list.
	// Every other field but AllocID is then empty.
	Gone bool
	// Terminal is set when the allocation will write no more logs: its
	// client status is complete, failed or lost, or it is told to stop or
	// is evicted and none of its tasks runs. Its files stay until garbage
	// collection; read them to the end.
	Terminal      bool
	ClientStatus  string
	DesiredStatus string
	// ModifyIndex is the allocation's ModifyIndex when the group was built.
	ModifyIndex uint64
	// Excluded are the tasks the selection leaves out, with the rule.
	Excluded []Excluded
}

// Builder turns allocations into groups.
type Builder struct {
	// SourceID is the Source of every event.Meta built.
	SourceID string
	// Node is the watched node: name, datacenter and region of the
	// metadata and the alloc dir of every target.
	Node Node
	// Selector picks the tasks to ship; nil selects every task that did
	// not opt out through meta.
	Selector *Selector
}

// Group builds the group of an allocation: one target per task and
// stream for every task of the job's task group and of TaskStates
// (tasks that did not start yet, prestart and sidecar tasks included),
// in the order of the job spec, then the remaining TaskStates by name.
// Unselected tasks are left out.
//
// prev, when not nil, is the last group built for the allocation; a target
// whose metadata is unchanged keeps prev's *event.Meta.
func (b *Builder) Group(a *api.Allocation, prev *Group) Group {
	g := Group{
		AllocID:       a.ID,
		ClientStatus:  a.ClientStatus,
		DesiredStatus: a.DesiredStatus,
		ModifyIndex:   a.ModifyIndex,
		Terminal:      Terminal(a),
	}
	tg := findGroup(a)
	base := b.allocInfo(a, tg)
	logsDir := LogsDir(b.Node.AllocDir, a.ID)
	for _, task := range taskList(a, tg) {
		ti := base
		ti.Task = task.name
		var taskMeta map[string]string
		if task.spec != nil {
			taskMeta = task.spec.Meta
		}
		var groupMeta map[string]string
		if tg != nil {
			groupMeta = tg.Meta
		}
		var jobMeta map[string]string
		if a.Job != nil {
			jobMeta = a.Job.Meta
		}
		ti.Meta = MergeMeta(jobMeta, groupMeta, taskMeta)
		jobName := ti.Job
		if a.Job != nil && str(a.Job.Name) != "" {
			jobName = str(a.Job.Name)
		}
		ti.Services = servicesOf(&ti, jobName, tg, task.spec)
		if rule := b.Selector.Why(Subject{
			Namespace: ti.Namespace, Job: ti.Job, ParentJob: ti.ParentJob,
			Group: ti.Group, Task: ti.Task, Meta: ti.Meta,
		}); rule != "" {
			g.Excluded = append(g.Excluded, Excluded{AllocID: a.ID, Namespace: ti.Namespace, Job: ti.Job,
				Group: ti.Group, Task: ti.Task, Rule: rule})
			continue
		}
		nomad := ti.nomadFields()
		for _, s := range Streams {
			t := Target{
				AllocID: a.ID, Task: task.name, Stream: s, LogsDir: logsDir,
				Meta: streamMeta(b.SourceID, ti.NodeName, s, nomad),
			}
			if st := a.TaskStates[task.name]; st != nil {
				t.TaskState = st.State
			}
			if task.spec != nil && task.spec.Lifecycle != nil {
				t.Lifecycle, t.Sidecar = task.spec.Lifecycle.Hook, task.spec.Lifecycle.Sidecar
			}
			if prev != nil {
				t.Meta = reuseMeta(prev, &t)
			}
			g.Targets = append(g.Targets, t)
		}
	}
	return g
}

// allocInfo fills the allocation-wide part of the task metadata.
func (b *Builder) allocInfo(a *api.Allocation, tg *api.TaskGroup) taskInfo {
	ti := taskInfo{
		Namespace:  a.Namespace,
		Region:     b.Node.Region,
		Datacenter: b.Node.Datacenter,
		NodeID:     a.NodeID,
		NodeName:   a.NodeName,
		Job:        a.JobID,
		Group:      a.TaskGroup,
		AllocID:    a.ID,
		AllocName:  a.Name,
		AllocIndex: -1,
	}
	if ti.NodeID == "" {
		ti.NodeID = b.Node.ID
	}
	if ti.NodeName == "" {
		ti.NodeName = b.Node.Name
	}
	if j := a.Job; j != nil {
		if r := str(j.Region); r != "" {
			ti.Region = r
		}
		if ti.Namespace == "" {
			ti.Namespace = str(j.Namespace)
		}
		if ti.Job == "" {
			ti.Job = str(j.ID)
		}
		ti.JobType = str(j.Type)
		ti.ParentJob = str(j.ParentID)
		if ti.Datacenter == "" && len(j.Datacenters) == 1 && !strings.ContainsAny(j.Datacenters[0], "*?[") {
			ti.Datacenter = j.Datacenters[0]
		}
	}
	if idx, ok := AllocIndex(a.Name); ok {
		ti.AllocIndex = idx
	}
	return ti
}

type taskRef struct {
	name string
	spec *api.Task // nil for a task only TaskStates knows
}

// taskList returns the tasks of the allocation: the task group's tasks in
// spec order, then the tasks only TaskStates names, sorted. Names that
// cannot be file name prefixes (empty, with a path separator) are skipped.
func taskList(a *api.Allocation, tg *api.TaskGroup) []taskRef {
	var out []taskRef
	seen := make(map[string]bool)
	if tg != nil {
		for _, t := range tg.Tasks {
			if t == nil || !validTaskName(t.Name) || seen[t.Name] {
				continue
			}
			seen[t.Name] = true
			out = append(out, taskRef{name: t.Name, spec: t})
		}
	}
	var extra []string
	for name := range a.TaskStates {
		if !seen[name] && validTaskName(name) {
			extra = append(extra, name)
		}
	}
	slices.Sort(extra)
	for _, name := range extra {
		out = append(out, taskRef{name: name})
	}
	return out
}

func validTaskName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/\\\x00")
}

// reuseMeta returns prev's metadata for the same task and stream when it is
// equal to t's, else t's.
func reuseMeta(prev *Group, t *Target) *event.Meta {
	for i := range prev.Targets {
		p := &prev.Targets[i]
		if p.Task == t.Task && p.Stream == t.Stream && p.Meta != nil &&
			p.Meta.Source == t.Meta.Source && bytes.Equal(p.Meta.JSONMembers(), t.Meta.JSONMembers()) {
			return p.Meta
		}
	}
	return t.Meta
}

// Terminal reports whether an allocation will write no more logs: its
// client status is complete, failed or lost, or its desired status is
// stop or evict and none of its tasks is running.
func Terminal(a *api.Allocation) bool {
	switch a.ClientStatus {
	case api.AllocClientStatusComplete, api.AllocClientStatusFailed, api.AllocClientStatusLost:
		return true
	}
	switch a.DesiredStatus {
	case api.AllocDesiredStatusStop, api.AllocDesiredStatusEvict:
		for _, st := range a.TaskStates {
			if st != nil && st.State == "running" {
				return false
			}
		}
		return true
	}
	return false
}

// sameGroup reports whether a consumer would see no difference between two
// groups of the same allocation: everything but ModifyIndex, and targets
// compared by metadata pointer.
func sameGroup(a, b *Group) bool {
	if a.Gone != b.Gone || a.Terminal != b.Terminal || a.ClientStatus != b.ClientStatus ||
		a.DesiredStatus != b.DesiredStatus || len(a.Targets) != len(b.Targets) || !slices.Equal(a.Excluded, b.Excluded) {
		return false
	}
	for i := range a.Targets {
		if a.Targets[i] != b.Targets[i] {
			return false
		}
	}
	return true
}
