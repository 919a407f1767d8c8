package transform

import "github.com/drover-dev/drover/internal/event"

// Per-workload hints: keys of a Nomad job's, group's or task's meta, or
// annotations of a Kubernetes pod, that tell drover how to treat that
// task's or container's lines. Nomad discovery merges the three levels
// (the task's wins) into every event's metadata as nomad.meta; Kubernetes
// discovery turns the annotations drover.io/parser and drover.io/multiline
// (or their ".<container>" forms, which win) into kubernetes.hints with
// the same keys. A transform with hints on applies them to that task's
// or container's lines only.
const (
	// HintParser names the parse format of the task's lines ("json",
	// "logfmt", "syslog", "cri", "docker", "none").
	HintParser = "drover.parser"
	// HintMultiline names the multiline preset of the task's lines
	// ("java", "python", "go", "ruby", "dotnet", "none").
	HintMultiline = "drover.multiline"
)

// The third hint, drover.exclude = "true" (the annotation
// drover.io/exclude), leaves the logs unread: discovery applies it
// (nomad.ExcludeMetaKey, kubernetes.AnnotationExclude).

// Hint returns the value of a hint in the stream metadata m: the key of
// nomad.meta, else of kubernetes.hints; "" when it is not set. It does not
// allocate.
func Hint(m *event.Meta, key string) string {
	if m == nil {
		return ""
	}
	if nomad, ok := m.Fields.Lookup("nomad"); ok {
		meta, _ := nomad.Object().Lookup("meta")
		v, _ := meta.Object().Lookup(key)
		return v.Str()
	}
	k8s, _ := m.Fields.Lookup("kubernetes")
	hints, _ := k8s.Object().Lookup("hints")
	v, _ := hints.Object().Lookup(key)
	return v.Str()
}
