package nomad

import (
	"sort"

	"github.com/hashicorp/nomad/api"
)

// The node's allocation list embeds every allocation's whole job: its
// tasks' driver configs, templates, resources, constraints, networks, and
// every task's event history. Decoded into api.Allocation, a node of 5000
// allocations holds tens of MB of it while a list is handled. The watcher
// decodes into the types below instead, which keep only what groups and
// metadata are built from (encoding/json skips the rest of the text
// without building anything), and turns them into api.Allocation values
// that carry only those fields.

type slimAlloc struct {
	ID, Name, Namespace, NodeID, NodeName, JobID, TaskGroup string
	ClientStatus, DesiredStatus                             string
	ModifyIndex, AllocModifyIndex, CreateIndex              uint64
	Job                                                     *slimJob
	TaskStates                                              map[string]*slimTaskState
}

type slimJob struct {
	Region, Namespace, ID, Name, Type, ParentID *string
	Datacenters                                 []string
	Meta                                        map[string]string
	TaskGroups                                  []*slimTaskGroup
}

type slimTaskGroup struct {
	Name     *string
	Meta     map[string]string
	Tasks    []*slimTask
	Services []*slimService
}

type slimTask struct {
	Name      string
	Meta      map[string]string
	Lifecycle *api.TaskLifecycle
	Services  []*slimService
}

type slimService struct {
	Name, TaskName string
	Tags           []string
}

type slimTaskState struct {
	State string
}

// allocations turns the decoded list into api.Allocation values holding
// the fields the package reads, sorted as the API client sorts them.
func allocations(in []*slimAlloc) []*api.Allocation {
	out := make([]*api.Allocation, 0, len(in))
	for _, s := range in {
		if s == nil {
			continue
		}
		a := &api.Allocation{
			ID: s.ID, Name: s.Name, Namespace: s.Namespace, NodeID: s.NodeID, NodeName: s.NodeName,
			JobID: s.JobID, TaskGroup: s.TaskGroup, ClientStatus: s.ClientStatus, DesiredStatus: s.DesiredStatus,
			ModifyIndex: s.ModifyIndex, AllocModifyIndex: s.AllocModifyIndex, CreateIndex: s.CreateIndex,
		}
		if s.Job != nil {
			a.Job = s.Job.api()
		}
		if s.TaskStates != nil {
			a.TaskStates = make(map[string]*api.TaskState, len(s.TaskStates))
			for name, st := range s.TaskStates {
				if st != nil {
					a.TaskStates[name] = &api.TaskState{State: st.State}
				} else {
					a.TaskStates[name] = nil
				}
			}
		}
		out = append(out, a)
	}
	sort.Sort(api.AllocationSort(out))
	return out
}

func (j *slimJob) api() *api.Job {
	out := &api.Job{
		Region: j.Region, Namespace: j.Namespace, ID: j.ID, Name: j.Name, Type: j.Type, ParentID: j.ParentID,
		Datacenters: j.Datacenters, Meta: j.Meta,
	}
	for _, tg := range j.TaskGroups {
		if tg == nil {
			out.TaskGroups = append(out.TaskGroups, nil)
			continue
		}
		g := &api.TaskGroup{Name: tg.Name, Meta: tg.Meta, Services: services(tg.Services)}
		for _, t := range tg.Tasks {
			if t == nil {
				g.Tasks = append(g.Tasks, nil)
				continue
			}
			g.Tasks = append(g.Tasks, &api.Task{Name: t.Name, Meta: t.Meta, Lifecycle: t.Lifecycle, Services: services(t.Services)})
		}
		out.TaskGroups = append(out.TaskGroups, g)
	}
	return out
}

func services(in []*slimService) []*api.Service {
	if in == nil {
		return nil
	}
	out := make([]*api.Service, len(in))
	for i, s := range in {
		if s != nil {
			out[i] = &api.Service{Name: s.Name, TaskName: s.TaskName, Tags: s.Tags}
		}
	}
	return out
}
