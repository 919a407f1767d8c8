package nomad

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"

	"github.com/hashicorp/nomad/api"

	"github.com/drover-dev/drover/internal/event"
)

// SourceType is the "source_type" field of every event of a Nomad task log.
const SourceType = "nomad_logs"

// Field names of the metadata. Top level: source_type, host, stream, nomad.
// Inside "nomad", in this order: namespace, region, datacenter, node_id,
// node_name, job_name, job_type, parent_job_name, group_name, task_name,
// alloc_id, alloc_name, alloc_index, meta, services. Empty strings are left
// out, and so is alloc_index when the allocation name has no [index], meta
// when no meta is set and services when the task has none.
//
// services lists the task's services, [{"name":"web","tags":["v1"]}]: the
// task's own service blocks, then those of its group that name no task or
// this task. Their names are interpolated as Nomad does for the variables
// the allocation tells (${NOMAD_JOB_NAME}, ${NOMAD_TASK_NAME},
// ${NOMAD_ALLOC_INDEX}, ... and the older ${JOB}, ${TASKGROUP}, ${TASK},
// ${BASE}); others are left as written.
//
// job_name is the allocation's JobID, as nomad-vector-logger sets it: the
// child's ID for dispatched and periodic jobs
// ("backup/dispatch-1700000000-1a2b3c4d"), whose parent's ID is
// parent_job_name.
const (
	FieldSourceType = "source_type"
	FieldHost       = "host"
	FieldStream     = "stream"
	FieldNomad      = "nomad"
)

// taskInfo is everything the metadata of one task says, before the stream.
type taskInfo struct {
	Namespace, Region, Datacenter string
	NodeID, NodeName              string
	Job, JobType, ParentJob       string
	Group, Task                   string
	AllocID, AllocName            string
	AllocIndex                    int64 // -1: unknown
	Meta                          map[string]string
	// Services is the JSON array of the task's services; nil for none.
	Services []byte
}

// nomadFields builds the "nomad" object of a task. It is shared by the
// stdout and stderr metadata of the task.
func (ti *taskInfo) nomadFields() *event.Fields {
	fs := make([]event.Field, 0, 14)
	add := func(k, v string) {
		if v != "" {
			fs = append(fs, event.Field{Key: k, Value: event.StringValue(v)})
		}
	}
	add("namespace", ti.Namespace)
	add("region", ti.Region)
	add("datacenter", ti.Datacenter)
	add("node_id", ti.NodeID)
	add("node_name", ti.NodeName)
	add("job_name", ti.Job)
	add("job_type", ti.JobType)
	add("parent_job_name", ti.ParentJob)
	add("group_name", ti.Group)
	add("task_name", ti.Task)
	add("alloc_id", ti.AllocID)
	add("alloc_name", ti.AllocName)
	if ti.AllocIndex >= 0 {
		fs = append(fs, event.Field{Key: "alloc_index", Value: event.IntValue(ti.AllocIndex)})
	}
	if len(ti.Meta) > 0 {
		keys := make([]string, 0, len(ti.Meta))
		for k := range ti.Meta {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		mf := make([]event.Field, len(keys))
		for i, k := range keys {
			mf[i] = event.Field{Key: k, Value: event.StringValue(ti.Meta[k])}
		}
		fs = append(fs, event.Field{Key: "meta", Value: event.ObjectValue(event.NewFields(mf...))})
	}
	if ti.Services != nil {
		fs = append(fs, event.Field{Key: "services", Value: event.RawJSONValue(ti.Services)})
	}
	return event.NewFields(fs...)
}

// streamMeta builds the shared metadata of one stream around a task's
// "nomad" object.
func streamMeta(sourceID, host string, stream Stream, nomad *event.Fields) *event.Meta {
	fs := make([]event.Field, 0, 4)
	fs = append(fs, event.Field{Key: FieldSourceType, Value: event.StringValue(SourceType)})
	if host != "" {
		fs = append(fs, event.Field{Key: FieldHost, Value: event.StringValue(host)})
	}
	fs = append(fs,
		event.Field{Key: FieldStream, Value: event.StringValue(string(stream))},
		event.Field{Key: FieldNomad, Value: event.ObjectValue(nomad)},
	)
	return event.NewMeta(sourceID, event.NewFields(fs...))
}

// PathMeta builds the metadata of a log file whose allocation the API does
// not know (yet) or cannot tell because it is unreachable: only what the
// path says (alloc_id, task_name, stream) and what is known of the node
// (host, node_id, node_name, datacenter, region; each left out when empty).
func PathMeta(sourceID string, node Node, allocID, task string, stream Stream) *event.Meta {
	ti := taskInfo{
		Region: node.Region, Datacenter: node.Datacenter,
		NodeID: node.ID, NodeName: node.Name,
		Task: task, AllocID: allocID, AllocIndex: -1,
	}
	return streamMeta(sourceID, node.Name, stream, ti.nomadFields())
}

// MergeMeta returns job meta overlaid by group meta overlaid by task meta:
// the more specific level wins. The inputs are not modified; nil when all
// are empty.
func MergeMeta(job, group, task map[string]string) map[string]string {
	n := len(job) + len(group) + len(task)
	if n == 0 {
		return nil
	}
	out := make(map[string]string, n)
	for _, m := range [3]map[string]string{job, group, task} {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// AllocIndex parses the index of an allocation name "job.group[3]": the
// number between the last '[' and the closing ']' at the end. ok is false
// when the name has none.
func AllocIndex(name string) (idx int64, ok bool) {
	if !strings.HasSuffix(name, "]") {
		return 0, false
	}
	open := strings.LastIndexByte(name, '[')
	if open < 0 {
		return 0, false
	}
	digits := name[open+1 : len(name)-1]
	if digits == "" || digits[0] == '+' || digits[0] == '-' {
		return 0, false
	}
	v, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return 0, false
	}
	return v, true
}

// str dereferences an optional string of the Nomad API.
func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// findGroup returns the allocation's task group in its embedded job.
func findGroup(a *api.Allocation) *api.TaskGroup {
	if a.Job == nil {
		return nil
	}
	for _, tg := range a.Job.TaskGroups {
		if tg != nil && str(tg.Name) == a.TaskGroup {
			return tg
		}
	}
	return nil
}

// serviceJSON is one service in the "services" field.
type serviceJSON struct {
	Name string   `json:"name"`
	Tags []string `json:"tags,omitempty"`
}

// servicesOf returns the JSON array of a task's services (see the field
// names above), nil when it has none.
func servicesOf(ti *taskInfo, jobName string, tg *api.TaskGroup, task *api.Task) []byte {
	var svcs []*api.Service
	if task != nil {
		svcs = append(svcs, task.Services...)
	}
	if tg != nil {
		for _, s := range tg.Services {
			if s != nil && (s.TaskName == "" || s.TaskName == ti.Task) {
				svcs = append(svcs, s)
			}
		}
	}
	var out []serviceJSON
	for _, s := range svcs {
		if s == nil || s.Name == "" {
			continue
		}
		out = append(out, serviceJSON{Name: interpolate(s.Name, ti, jobName), Tags: s.Tags})
	}
	if len(out) == 0 {
		return nil
	}
	raw, err := json.Marshal(out)
	if err != nil {
		return nil
	}
	return raw
}

// interpolate replaces the variables of a service name that the
// allocation tells; others stay as written.
func interpolate(name string, ti *taskInfo, jobName string) string {
	if !strings.Contains(name, "${") {
		return name
	}
	short := ti.AllocID
	if len(short) > 8 {
		short = short[:8]
	}
	index := ""
	if ti.AllocIndex >= 0 {
		index = strconv.FormatInt(ti.AllocIndex, 10)
	}
	return strings.NewReplacer(
		"${NOMAD_JOB_NAME}", jobName, "${NOMAD_JOB_ID}", ti.Job, "${NOMAD_JOB_PARENT_ID}", ti.ParentJob,
		"${NOMAD_GROUP_NAME}", ti.Group, "${NOMAD_TASK_NAME}", ti.Task, "${NOMAD_NAMESPACE}", ti.Namespace,
		"${NOMAD_REGION}", ti.Region, "${NOMAD_DC}", ti.Datacenter, "${NOMAD_ALLOC_ID}", ti.AllocID,
		"${NOMAD_SHORT_ALLOC_ID}", short, "${NOMAD_ALLOC_NAME}", ti.AllocName, "${NOMAD_ALLOC_INDEX}", index,
		"${JOB}", jobName, "${TASKGROUP}", ti.Group, "${TASK}", ti.Task, "${BASE}", jobName+"-"+ti.Group+"-"+ti.Task,
	).Replace(name)
}
