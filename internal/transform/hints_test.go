package transform

import (
	"testing"

	"github.com/drover-dev/drover/internal/event"
)

func obj(fs ...event.Field) event.Value { return event.ObjectValue(event.NewFields(fs...)) }

func str(k, v string) event.Field { return event.Field{Key: k, Value: event.StringValue(v)} }

// Hints are read from a Nomad task's meta and from a Kubernetes
// container's hints (its pod's drover.io/* annotations).
func TestHintReadsNomadAndKubernetes(t *testing.T) {
	nomad := event.NewMeta("s", event.NewFields(event.Field{Key: "nomad", Value: obj(
		event.Field{Key: "meta", Value: obj(str(HintParser, "json"))})}))
	k8s := event.NewMeta("s", event.NewFields(event.Field{Key: "kubernetes", Value: obj(
		str("namespace", "apps"),
		event.Field{Key: "hints", Value: obj(str(HintMultiline, "java"), str(HintParser, "logfmt"))})}))
	bare := event.NewMeta("s", event.NewFields(str("file", "/x")))
	for _, c := range []struct {
		m         *event.Meta
		key, want string
	}{
		{nomad, HintParser, "json"},
		{nomad, HintMultiline, ""},
		{k8s, HintParser, "logfmt"},
		{k8s, HintMultiline, "java"},
		{bare, HintParser, ""},
		{nil, HintParser, ""},
	} {
		if got := Hint(c.m, c.key); got != c.want {
			t.Errorf("Hint(%v, %q) = %q, want %q", c.m, c.key, got, c.want)
		}
	}
}
