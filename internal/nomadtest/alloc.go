package nomadtest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"sort"
	"sync"
)

// Alloc describes an allocation to serve. Zero fields take the defaults
// noted; JSON (or a Server) turns it into an allocation object shaped like the
// ones of the captured node allocation list (it starts from the captured
// running logspam allocation and changes what the spec says).
type Alloc struct {
	// ID defaults to a random UUID.
	ID string
	// Namespace defaults to "default".
	Namespace string
	// Job is the job ID (and name); default "web". ParentID makes it a
	// dispatched or periodic child: set Job to "<parent>/dispatch-...".
	Job      string
	ParentID string
	// JobType defaults to "service".
	JobType string
	// Group defaults to "web"; Index is the allocation's index in its
	// group, as in the name "web.web[3]".
	Group string
	Index int
	// Tasks default to one task named "app".
	Tasks []Task
	// JobMeta and GroupMeta are the job's and the group's meta.
	JobMeta   map[string]string
	GroupMeta map[string]string
	// GroupServices are the group's service blocks.
	GroupServices []Service
	// ClientStatus defaults to "running", DesiredStatus to "run".
	ClientStatus  string
	DesiredStatus string
	// TaskStates maps task names to their state ("pending", "running",
	// "dead"). nil gives every task the state that matches ClientStatus
	// (running, pending, or dead when complete/failed/lost); a non-nil
	// map is used as is, so a task left out has not started yet.
	TaskStates map[string]string
	// Region defaults to "global", Datacenters to ["dc1"].
	Region      string
	Datacenters []string
	// NodeID and NodeName default to the server's node.
	NodeID   string
	NodeName string
}

// Task describes one task of an Alloc.
type Task struct {
	Name string
	Meta map[string]string
	// Lifecycle is the lifecycle hook: "prestart", "poststart",
	// "poststop", or "" for a main task. Sidecar marks a sidecar.
	Lifecycle string
	Sidecar   bool
	// Services are the task's service blocks.
	Services []Service
}

// Service is a service block of a task or a group.
type Service struct {
	Name string
	Tags []string
	// Task is the task a group service names ("task" in the block).
	Task string
}

func servicesValue(ss []Service) any {
	if len(ss) == 0 {
		return nil
	}
	out := make([]any, len(ss))
	for i, s := range ss {
		tags := make([]any, len(s.Tags))
		for j, t := range s.Tags {
			tags[j] = t
		}
		out[i] = map[string]any{"Name": s.Name, "Tags": tags, "TaskName": s.Task, "Provider": "nomad", "PortLabel": ""}
	}
	return out
}

// NewID returns a random allocation ID in Nomad's UUID format.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func (a *Alloc) setDefaults(nodeID, nodeName string) {
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	def(&a.ID, NewID())
	def(&a.Namespace, "default")
	def(&a.Job, "web")
	def(&a.JobType, "service")
	def(&a.Group, "web")
	def(&a.ClientStatus, "running")
	def(&a.DesiredStatus, "run")
	def(&a.Region, FixtureRegion)
	def(&a.NodeID, nodeID)
	def(&a.NodeName, nodeName)
	if len(a.Datacenters) == 0 {
		a.Datacenters = []string{FixtureDatacenter}
	}
	if len(a.Tasks) == 0 {
		a.Tasks = []Task{{Name: "app"}}
	}
}

// JSON returns the allocation as a node allocation list serves it, with
// the defaults applied (the captured node) and CreateIndex = ModifyIndex
// = index. It needs no server: benchmarks and decoding tests use it.
func (a Alloc) JSON(index uint64) []byte {
	a = a.clone()
	a.setDefaults(FixtureNodeID, FixtureNodeName)
	return marshal(a.render(index, index))
}

// ListJSON returns allocations as a node allocation list body.
func ListJSON(index uint64, allocs ...Alloc) []byte {
	out := []byte{'['}
	for i, a := range allocs {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, a.JSON(index)...)
	}
	return append(out, ']')
}

// Name returns the allocation name "<job>.<group>[<index>]".
func (a *Alloc) Name() string { return fmt.Sprintf("%s.%s[%d]", a.Job, a.Group, a.Index) }

var (
	templateOnce sync.Once
	template     map[string]any
)

// templateAlloc returns a copy of the captured running logspam allocation.
func templateAlloc() map[string]any {
	templateOnce.Do(func() { template = FixtureAllocations(FixtureNodeAllocations)[0] })
	return deepCopy(template).(map[string]any)
}

func defaultTaskState(clientStatus string) string {
	switch clientStatus {
	case "pending":
		return "pending"
	case "complete", "failed", "lost":
		return "dead"
	}
	return "running"
}

func metaValue(m map[string]string) any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// render returns the allocation as Nomad serves it in a node allocation
// list, with the given indexes. Defaults must have been applied.
func (a *Alloc) render(createIndex, modifyIndex uint64) map[string]any {
	m := templateAlloc()
	job := m["Job"].(map[string]any)
	tmplGroup := job["TaskGroups"].([]any)[0].(map[string]any)
	tmplTask := tmplGroup["Tasks"].([]any)[0].(map[string]any)
	tmplState := m["TaskStates"].(map[string]any)["spam"].(map[string]any)
	tmplRes := m["TaskResources"].(map[string]any)["spam"]
	alloc := m["AllocatedResources"].(map[string]any)
	tmplAllocTask := alloc["Tasks"].(map[string]any)["spam"]

	m["ID"] = a.ID
	m["Name"] = a.Name()
	m["Namespace"] = a.Namespace
	m["JobID"] = a.Job
	m["TaskGroup"] = a.Group
	m["NodeID"] = a.NodeID
	m["NodeName"] = a.NodeName
	m["ClientStatus"] = a.ClientStatus
	m["DesiredStatus"] = a.DesiredStatus
	m["ClientDescription"] = ""
	m["EvalID"] = NewID()
	m["DeploymentID"] = ""
	m["DeploymentStatus"] = nil
	m["CreateIndex"] = json.Number(fmt.Sprint(createIndex))
	m["ModifyIndex"] = json.Number(fmt.Sprint(modifyIndex))
	m["AllocModifyIndex"] = json.Number(fmt.Sprint(modifyIndex))

	job["ID"] = a.Job
	job["Name"] = a.Job
	job["Namespace"] = a.Namespace
	job["Type"] = a.JobType
	job["ParentID"] = a.ParentID
	job["Dispatched"] = a.ParentID != ""
	job["Region"] = a.Region
	job["Meta"] = metaValue(a.JobMeta)
	dcs := make([]any, len(a.Datacenters))
	for i, dc := range a.Datacenters {
		dcs[i] = dc
	}
	job["Datacenters"] = dcs
	if a.JobType != "service" && a.JobType != "system" {
		job["Update"] = nil
	}

	group := deepCopy(tmplGroup).(map[string]any)
	group["Name"] = a.Group
	group["Meta"] = metaValue(a.GroupMeta)
	group["Services"] = servicesValue(a.GroupServices)
	tasks := make([]any, 0, len(a.Tasks))
	taskRes := make(map[string]any, len(a.Tasks))
	allocTasks := make(map[string]any, len(a.Tasks))
	lifecycles := make(map[string]any, len(a.Tasks))
	for _, t := range a.Tasks {
		task := deepCopy(tmplTask).(map[string]any)
		task["Name"] = t.Name
		task["Meta"] = metaValue(t.Meta)
		task["Services"] = servicesValue(t.Services)
		var lc any
		if t.Lifecycle != "" {
			lc = map[string]any{"Hook": t.Lifecycle, "Sidecar": t.Sidecar}
		}
		task["Lifecycle"] = lc
		tasks = append(tasks, task)
		taskRes[t.Name] = deepCopy(tmplRes)
		allocTasks[t.Name] = deepCopy(tmplAllocTask)
		lifecycles[t.Name] = deepCopy(lc)
	}
	group["Tasks"] = tasks
	job["TaskGroups"] = []any{group}
	m["TaskResources"] = taskRes
	alloc["Tasks"] = allocTasks
	alloc["TaskLifecycles"] = lifecycles

	states := a.TaskStates
	if states == nil {
		states = make(map[string]string, len(a.Tasks))
		for _, t := range a.Tasks {
			states[t.Name] = defaultTaskState(a.ClientStatus)
		}
	}
	ts := make(map[string]any, len(states))
	names := make([]string, 0, len(states))
	for name := range states {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		st := deepCopy(tmplState).(map[string]any)
		st["State"] = states[name]
		if states[name] == "dead" {
			st["FinishedAt"] = st["StartedAt"]
		}
		ts[name] = st
	}
	m["TaskStates"] = ts
	return m
}

// clone returns a copy of the spec that shares no maps or slices with a.
func (a Alloc) clone() Alloc {
	a.Tasks = append([]Task(nil), a.Tasks...)
	for i := range a.Tasks {
		a.Tasks[i].Meta = maps.Clone(a.Tasks[i].Meta)
		a.Tasks[i].Services = append([]Service(nil), a.Tasks[i].Services...)
	}
	a.GroupServices = append([]Service(nil), a.GroupServices...)
	a.JobMeta = maps.Clone(a.JobMeta)
	a.GroupMeta = maps.Clone(a.GroupMeta)
	a.TaskStates = maps.Clone(a.TaskStates)
	a.Datacenters = append([]string(nil), a.Datacenters...)
	return a
}
