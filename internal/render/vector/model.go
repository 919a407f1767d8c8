package vector

import (
	"fmt"
	"path/filepath"

	"github.com/drover-dev/drover/internal/discovery/nomad"
	"github.com/drover-dev/drover/internal/event"
)

// AllocData is what the allocation template renders: one allocation and
// its selected tasks. Strings are raw; templates quote them with the
// escaping functions (see Funcs).
type AllocData struct {
	// AllocID is the allocation's ID (a UUID).
	AllocID string
	// Namespace, Job, Group and AllocName describe the allocation, as the
	// nomad_logs source's fields namespace, job_name, group_name and
	// alloc_name; "" when unknown.
	Namespace string
	Job       string
	Group     string
	AllocName string
	// MaxLineBytes is the max_line_bytes of every file source.
	MaxLineBytes int64
	// Tasks are the selected tasks, in the order of the job spec.
	Tasks []TaskData
}

// TaskData is one task of an allocation: a file source and a remap
// transform.
type TaskData struct {
	// Name is the task's name.
	Name string
	// Source and Transform are the component names.
	Source    string
	Transform string
	// LogsDir is the allocation's log directory.
	LogsDir string
	// Include and Exclude are the file source's glob patterns, one of
	// each per stream: together they match exactly
	// <LogsDir>/<task>.<stream>.<digits> (see StreamData).
	Include []string
	Exclude []string
	// Streams are the task's streams, stdout then stderr.
	Streams []StreamData
	// Nomad is the "nomad" object of the nomad_logs source for this task,
	// its fields in the same order and with the same names.
	Nomad []Field
	// VRL is the built-in remap program: it sets .nomad to Nomad and
	// .stream from the event's file path.
	VRL string
}

// StreamData is one stream of a task.
type StreamData struct {
	// Name is "stdout" or "stderr".
	Name string
	// PathPrefix is the path of the stream's files without the number:
	// <LogsDir>/<task>.<stream>.
	PathPrefix string
	// Include matches every file whose name after PathPrefix starts with
	// a digit; Exclude drops the names with anything but digits there.
	Include string
	Exclude string
}

// Field is one member of the nomad object. Value is a string, an int64
// (alloc_index) or a []Field (meta).
type Field struct {
	Key   string
	Value any
}

// PlaceholderData is what the placeholder template renders.
type PlaceholderData struct {
	// Source and Transform are the component names; Transform matches
	// "<name_prefix>*".
	Source    string
	Transform string
	// Include is a glob that matches no file: the source reads nothing.
	Include string
	// Pattern is the input pattern that reads every transform drover
	// writes: "<name_prefix>*".
	Pattern string
}

// allocData builds the template data of a group. A group without
// targets gives no data (false).
func allocData(g *nomad.Group, names Names, maxLineBytes int64) (AllocData, bool, error) {
	if len(g.Targets) == 0 {
		return AllocData{}, false, nil
	}
	d := AllocData{AllocID: g.AllocID, MaxLineBytes: maxLineBytes}
	byTask := map[string]int{}
	seen := map[string]string{}
	for i := range g.Targets {
		t := &g.Targets[i]
		k, ok := byTask[t.Task]
		if !ok {
			td, err := taskData(g.AllocID, t, names)
			if err != nil {
				return AllocData{}, false, err
			}
			if other, dup := seen[td.Transform]; dup {
				return AllocData{}, false, fmt.Errorf("allocation %s: tasks %q and %q get the same component name %s", g.AllocID, other, t.Task, td.Transform)
			}
			seen[td.Transform] = t.Task
			k = len(d.Tasks)
			byTask[t.Task] = k
			d.Tasks = append(d.Tasks, td)
			if k == 0 {
				d.Namespace, d.Job = fieldString(td.Nomad, "namespace"), fieldString(td.Nomad, "job_name")
				d.Group, d.AllocName = fieldString(td.Nomad, "group_name"), fieldString(td.Nomad, "alloc_name")
			}
		}
		td := &d.Tasks[k]
		sd := streamData(t)
		td.Streams = append(td.Streams, sd)
		td.Include = append(td.Include, sd.Include)
		td.Exclude = append(td.Exclude, sd.Exclude)
	}
	for i := range d.Tasks {
		d.Tasks[i].VRL = remapProgram(&d.Tasks[i])
	}
	return d, true, nil
}

func taskData(allocID string, t *nomad.Target, names Names) (TaskData, error) {
	td := TaskData{
		Name:      t.Task,
		Source:    names.Source(allocID, t.Task),
		Transform: names.Transform(allocID, t.Task),
		LogsDir:   t.LogsDir,
	}
	if t.Meta != nil {
		if v, ok := t.Meta.Fields.Lookup(nomad.FieldNomad); ok && v.Kind() == event.KindObject {
			fs, err := fieldsOf(v.Object())
			if err != nil {
				return TaskData{}, fmt.Errorf("allocation %s, task %q: %w", allocID, t.Task, err)
			}
			td.Nomad = fs
		}
	}
	return td, nil
}

// streamData builds the globs of one stream. The glob crate Vector uses
// cannot say "digits only" in one pattern: the include pattern requires a
// digit first, the exclude pattern drops any name with a non-digit after
// the stream.
func streamData(t *nomad.Target) StreamData {
	prefix := t.LogsDir + "/" + t.Task + "." + string(t.Stream) + "."
	globStem := GlobEscape(prefix)
	return StreamData{
		Name:       string(t.Stream),
		PathPrefix: prefix,
		Include:    globStem + "[0-9]*",
		Exclude:    globStem + "*[!0-9]*",
	}
}

// fieldsOf converts the nomad object of the metadata.
func fieldsOf(fs *event.Fields) ([]Field, error) {
	all := fs.All()
	out := make([]Field, 0, len(all))
	for _, f := range all {
		var v any
		switch f.Value.Kind() {
		case event.KindString:
			v = f.Value.Str()
		case event.KindInt:
			v = f.Value.Int()
		case event.KindObject:
			inner, err := fieldsOf(f.Value.Object())
			if err != nil {
				return nil, err
			}
			v = inner
		default:
			return nil, fmt.Errorf("metadata field %q has a kind (%d) the renderer does not write", f.Key, f.Value.Kind())
		}
		out = append(out, Field{Key: f.Key, Value: v})
	}
	return out, nil
}

func fieldString(fs []Field, key string) string {
	for _, f := range fs {
		if f.Key == key {
			s, _ := f.Value.(string)
			return s
		}
	}
	return ""
}

// placeholderData builds the placeholder's template data.
func placeholderData(names Names, outDir string) PlaceholderData {
	return PlaceholderData{
		Source:    names.PlaceholderSource(),
		Transform: names.PlaceholderTransform(),
		Include:   GlobEscape(filepath.Join(outDir, "."+names.FilePrefix+placeholderKey+".never")),
		Pattern:   names.TransformPrefix + "*",
	}
}
