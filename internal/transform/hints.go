package transform

import "github.com/drover-dev/drover/internal/event"

// Per-workload hints: keys of a Nomad job's, group's or task's meta that
// tell drover how to treat that task's lines. Nomad discovery merges the
// three levels (the task's wins) into every event's metadata as
// nomad.meta; a transform with hints on applies them to that task's lines
// only.
const (
	// HintParser names the parse format of the task's lines ("json",
	// "logfmt", "syslog", "cri", "docker", "none").
	HintParser = "drover.parser"
	// HintMultiline names the multiline preset of the task's lines
	// ("java", "python", "go", "ruby", "dotnet", "none").
	HintMultiline = "drover.multiline"
)

// The third hint, drover.exclude = "true", leaves the task's logs unread:
// Nomad discovery applies it (nomad.ExcludeMetaKey).

// Hint returns the value of a hint in the stream metadata m: the key of
// nomad.meta, "" when it is not set. It does not allocate.
func Hint(m *event.Meta, key string) string {
	if m == nil {
		return ""
	}
	nomad, _ := m.Fields.Lookup("nomad")
	meta, _ := nomad.Object().Lookup("meta")
	v, _ := meta.Object().Lookup(key)
	return v.Str()
}
