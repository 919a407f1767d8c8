package nomad

import (
	"errors"
	"testing"

	"github.com/drover-dev/drover/internal/config"
)

func TestSelector(t *testing.T) {
	base := Subject{Namespace: "apps", Job: "web", Group: "frontend", Task: "nginx"}
	with := func(f func(*Subject)) Subject {
		s := base
		f(&s)
		return s
	}
	cases := []struct {
		name             string
		include, exclude Selection
		sub              Subject
		want             bool
	}{
		{"no rules", Selection{}, Selection{}, base, true},
		{"include namespace", Selection{Namespaces: []string{"apps"}}, Selection{}, base, true},
		{"include namespace glob", Selection{Namespaces: []string{"ap*"}}, Selection{}, base, true},
		{"include other namespace", Selection{Namespaces: []string{"default"}}, Selection{}, base, false},
		{"include alternatives", Selection{Namespaces: []string{"{default,apps}"}}, Selection{}, base, true},
		{"include all dims", Selection{Namespaces: []string{"apps"}, Jobs: []string{"web"}, Groups: []string{"front*"}, Tasks: []string{"nginx"}}, Selection{}, base, true},
		{"include one dim fails", Selection{Namespaces: []string{"apps"}, Tasks: []string{"envoy"}}, Selection{}, base, false},
		{"exclude task", Selection{}, Selection{Tasks: []string{"nginx"}}, base, false},
		{"exclude other task", Selection{}, Selection{Tasks: []string{"envoy"}}, base, true},
		{"exclude wins over include", Selection{Jobs: []string{"*"}}, Selection{Groups: []string{"frontend"}}, base, false},
		{"exclude glob", Selection{}, Selection{Tasks: []string{"connect-proxy-*"}}, with(func(s *Subject) { s.Task = "connect-proxy-web" }), false},
		{"task glob exact", Selection{Tasks: []string{"api"}}, Selection{}, with(func(s *Subject) { s.Task = "api-proxy" }), false},
		{"dispatched child by parent", Selection{Jobs: []string{"backup"}}, Selection{},
			with(func(s *Subject) { s.Job, s.ParentJob = "backup/dispatch-1700000000-1a2b3c4d", "backup" }), true},
		{"dispatched child by own id", Selection{Jobs: []string{"backup/dispatch-*"}}, Selection{},
			with(func(s *Subject) { s.Job, s.ParentJob = "backup/dispatch-1700000000-1a2b3c4d", "backup" }), true},
		{"star matches child through parent", Selection{Jobs: []string{"*"}}, Selection{},
			with(func(s *Subject) { s.Job, s.ParentJob = "backup/periodic-1700000000", "backup" }), true},
		{"exclude parent excludes child", Selection{}, Selection{Jobs: []string{"backup"}},
			with(func(s *Subject) { s.Job, s.ParentJob = "backup/periodic-1700000000", "backup" }), false},
		{"opt out", Selection{}, Selection{}, with(func(s *Subject) { s.Meta = map[string]string{EnabledMetaKey: "false"} }), false},
		{"opt out FALSE", Selection{}, Selection{}, with(func(s *Subject) { s.Meta = map[string]string{EnabledMetaKey: " FALSE "} }), false},
		{"opt out 0", Selection{}, Selection{}, with(func(s *Subject) { s.Meta = map[string]string{EnabledMetaKey: "0"} }), false},
		{"enabled true", Selection{}, Selection{}, with(func(s *Subject) { s.Meta = map[string]string{EnabledMetaKey: "true"} }), true},
		{"not a bool", Selection{}, Selection{}, with(func(s *Subject) { s.Meta = map[string]string{EnabledMetaKey: "nope"} }), true},
		{"exclude hint", Selection{}, Selection{}, with(func(s *Subject) { s.Meta = map[string]string{ExcludeMetaKey: "true"} }), false},
		{"exclude hint TRUE", Selection{}, Selection{}, with(func(s *Subject) { s.Meta = map[string]string{ExcludeMetaKey: " TRUE "} }), false},
		{"exclude hint false", Selection{}, Selection{}, with(func(s *Subject) { s.Meta = map[string]string{ExcludeMetaKey: "false"} }), true},
		{"exclude hint not a bool", Selection{}, Selection{}, with(func(s *Subject) { s.Meta = map[string]string{ExcludeMetaKey: "yes please"} }), true},
		{"enabled does not beat exclude", Selection{}, Selection{Tasks: []string{"nginx"}},
			with(func(s *Subject) { s.Meta = map[string]string{EnabledMetaKey: "true"} }), false},
	}
	for _, c := range cases {
		sel, err := NewSelector(c.include, c.exclude)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := sel.Selected(c.sub); got != c.want {
			t.Errorf("%s: Selected = %v, want %v", c.name, got, c.want)
		}
	}
	var nilSel *Selector
	if !nilSel.Selected(base) || nilSel.Selected(with(func(s *Subject) { s.Meta = map[string]string{EnabledMetaKey: "false"} })) {
		t.Error("nil selector: selects everything that did not opt out")
	}
}

func TestOptOutLevels(t *testing.T) {
	off := map[string]string{EnabledMetaKey: "false"}
	on := map[string]string{EnabledMetaKey: "true"}
	cases := []struct {
		job, group, task map[string]string
		out              bool
	}{
		{off, nil, nil, true},
		{nil, off, nil, true},
		{nil, nil, off, true},
		{off, on, nil, false},
		{off, nil, on, false},
		{on, on, off, true},
		{nil, off, on, false},
	}
	for i, c := range cases {
		if got := OptedOut(MergeMeta(c.job, c.group, c.task)); got != c.out {
			t.Errorf("case %d: OptedOut = %v, want %v", i, got, c.out)
		}
	}
}

func TestSelectionValidate(t *testing.T) {
	err := Selection{Jobs: []string{"ok-*", "[bad"}, Tasks: []string{""}}.Validate()
	var fe *config.FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("err = %v, want *config.FieldError", err)
	}
	joined, _ := err.(interface{ Unwrap() []error })
	if joined == nil || len(joined.Unwrap()) != 2 {
		t.Fatalf("want two errors, got %v", err)
	}
	if _, err := NewSelector(Selection{}, Selection{Groups: []string{"{a"}}); err == nil || !errors.As(err, &fe) || fe.Field != "exclude.groups" {
		t.Errorf("NewSelector: err = %v", err)
	}
}
