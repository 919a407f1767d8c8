package kubernetes

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/drover-dev/drover/internal/config"
	"github.com/drover-dev/drover/internal/discovery"
)

// Selector decides which containers are shipped (see Selection). A nil
// *Selector selects every container that annotations do not exclude.
type Selector struct {
	in, ex compiledSelection
}

type compiledSelection struct {
	namespaces, containers []string
	nsLabels, podLabels    labels.Selector // nil when not set
}

// NewSelector compiles validated include and exclude blocks.
func NewSelector(include, exclude Selection) (*Selector, error) {
	in, err := compile(include)
	if err != nil {
		return nil, config.Prefix("include", err)
	}
	ex, err := compile(exclude)
	if err != nil {
		return nil, config.Prefix("exclude", err)
	}
	return &Selector{in: in, ex: ex}, nil
}

func compile(s Selection) (compiledSelection, error) {
	if err := s.Validate(); err != nil {
		return compiledSelection{}, err
	}
	c := compiledSelection{namespaces: s.Namespaces, containers: s.Containers}
	if s.NamespaceLabels != "" {
		c.nsLabels, _ = labels.Parse(s.NamespaceLabels)
	}
	if s.PodLabels != "" {
		c.podLabels, _ = labels.Parse(s.PodLabels)
	}
	return c, nil
}

// Subject is what selection looks at for one container.
type Subject struct {
	Namespace       string
	NamespaceLabels map[string]string
	// PodLabels are the pod's labels; PodKnown is false for a pod the API
	// did not show (its labels are unknown: pod_labels are not applied).
	PodLabels map[string]string
	PodKnown  bool
	Container string
}

// Selected reports whether a container's logs are shipped: every include
// field that is set matches, and no exclude field that is set matches.
// Annotations are looked at by the caller.
func (s *Selector) Selected(sub Subject) bool {
	if s == nil {
		return true
	}
	in := s.in
	if len(in.namespaces) > 0 && !anyMatch(in.namespaces, sub.Namespace) ||
		in.nsLabels != nil && !in.nsLabels.Matches(labels.Set(sub.NamespaceLabels)) ||
		sub.PodKnown && in.podLabels != nil && !in.podLabels.Matches(labels.Set(sub.PodLabels)) ||
		len(in.containers) > 0 && !anyMatch(in.containers, sub.Container) {
		return false
	}
	ex := s.ex
	return !(anyMatch(ex.namespaces, sub.Namespace) ||
		ex.nsLabels != nil && ex.nsLabels.Matches(labels.Set(sub.NamespaceLabels)) ||
		sub.PodKnown && ex.podLabels != nil && ex.podLabels.Matches(labels.Set(sub.PodLabels)) ||
		anyMatch(ex.containers, sub.Container))
}

// Why returns the rule that leaves a container out, or "" when Selected
// takes it: the decision of Selected, explained.
func (s *Selector) Why(sub Subject) string {
	if s == nil {
		return ""
	}
	in := s.in
	switch {
	case len(in.namespaces) > 0 && !anyMatch(in.namespaces, sub.Namespace):
		return discovery.NoPatternMatches("include.namespaces", in.namespaces)
	case in.nsLabels != nil && !in.nsLabels.Matches(labels.Set(sub.NamespaceLabels)):
		return fmt.Sprintf("include.namespace_labels %q does not match", in.nsLabels.String())
	case sub.PodKnown && in.podLabels != nil && !in.podLabels.Matches(labels.Set(sub.PodLabels)):
		return fmt.Sprintf("include.pod_labels %q does not match", in.podLabels.String())
	case len(in.containers) > 0 && !anyMatch(in.containers, sub.Container):
		return discovery.NoPatternMatches("include.containers", in.containers)
	}
	ex := s.ex
	for _, p := range ex.namespaces {
		if anyMatch([]string{p}, sub.Namespace) {
			return fmt.Sprintf("exclude.namespaces %q", p)
		}
	}
	if ex.nsLabels != nil && ex.nsLabels.Matches(labels.Set(sub.NamespaceLabels)) {
		return fmt.Sprintf("exclude.namespace_labels %q", ex.nsLabels.String())
	}
	if sub.PodKnown && ex.podLabels != nil && ex.podLabels.Matches(labels.Set(sub.PodLabels)) {
		return fmt.Sprintf("exclude.pod_labels %q", ex.podLabels.String())
	}
	for _, p := range ex.containers {
		if anyMatch([]string{p}, sub.Container) {
			return fmt.Sprintf("exclude.containers %q", p)
		}
	}
	return ""
}

func anyMatch(patterns []string, name string) bool {
	for _, p := range patterns {
		if doublestar.MatchUnvalidated(p, name) {
			return true
		}
	}
	return false
}

// dirRef is what a pod log directory's name tells:
// <namespace>_<pod>_<uid>.
type dirRef struct {
	namespace, pod, uid string
}

// Dir is the pod's directory under root.
func (r dirRef) Dir(root string) string {
	return filepath.Join(root, r.namespace+"_"+r.pod+"_"+r.uid)
}

// ParsePodDir reads a pod log directory's base name: namespace, pod name
// and UID separated by '_' (none of them can hold one: namespaces and pod
// names are DNS names, UIDs are UUIDs or config hashes).
func ParsePodDir(name string) (namespace, pod, uid string, ok bool) {
	parts := strings.Split(name, "_")
	if len(parts) != 3 {
		return "", "", "", false
	}
	for _, p := range parts {
		if !validName(p) {
			return "", "", "", false
		}
	}
	return parts[0], parts[1], parts[2], true
}

// listPodDirs lists the pod directories under root, by UID.
func listPodDirs(root string) (map[string]dirRef, error) {
	es, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	out := make(map[string]dirRef, len(es))
	for _, e := range es {
		if !e.IsDir() {
			continue
		}
		if ns, pod, uid, ok := ParsePodDir(e.Name()); ok {
			out[uid] = dirRef{namespace: ns, pod: pod, uid: uid}
		}
	}
	return out, nil
}

// listContainerDirs lists the container directories of a pod directory.
func listContainerDirs(dir string) ([]string, error) {
	es, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range es {
		if e.IsDir() && validName(e.Name()) {
			out = append(out, e.Name())
		}
	}
	return out, nil
}
