package kubernetes

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
	corev1 "k8s.io/api/core/v1"

	"github.com/drover-dev/drover/internal/event"
)

// SourceType is the "source_type" field of every event of a container log.
const SourceType = "kubernetes_logs"

// Field names of the metadata. Top level: source_type, host (the node),
// kubernetes. Inside "kubernetes", in this order: namespace, pod_name,
// pod_uid, pod_ip, node_name, owner_kind, owner_name, container_name,
// container_image, container_id, restart_count, labels, annotations,
// namespace_labels, hints. Empty strings and empty objects are left out.
// The stream (stdout, stderr) is a field of each event, not of the
// metadata: both streams of a container are in one file.
const (
	FieldSourceType = "source_type"
	FieldHost       = "host"
	FieldKubernetes = "kubernetes"
)

// Hint annotations: set on a pod, they apply to all its containers;
// "<hint>.<container>" applies to one container and wins over the pod's.
const (
	// AnnotationExclude = "true" leaves the pod's (or the container's) logs
	// unread; "false" on a container takes it back from a pod-wide
	// exclusion.
	AnnotationExclude = "drover.io/exclude"
	// AnnotationParser names the parse format of the container's lines;
	// it is carried in the metadata as kubernetes.hints["drover.parser"].
	AnnotationParser = "drover.io/parser"
	// AnnotationMultiline names the multiline preset; carried as
	// kubernetes.hints["drover.multiline"].
	AnnotationMultiline = "drover.io/multiline"
)

// Hint keys in kubernetes.hints: the same names as the Nomad meta keys
// that the transforms read.
const (
	HintParser    = "drover.parser"
	HintMultiline = "drover.multiline"
)

// hintValue returns the value of a hint annotation for a container: its
// container form first, then the pod's.
func hintValue(ann map[string]string, key, container string) (string, bool) {
	if v, ok := ann[key+"."+container]; ok {
		return v, true
	}
	v, ok := ann[key]
	return v, ok
}

// excludedBy returns the annotation that excludes a container, written as
// it is set (`annotation drover.io/exclude.sidecar = "true"`), or "".
func excludedBy(ann map[string]string, container string) string {
	if !excluded(ann, container) {
		return ""
	}
	key := AnnotationExclude + "." + container
	if _, ok := ann[key]; !ok {
		key = AnnotationExclude
	}
	return fmt.Sprintf("annotation %s = %q", key, ann[key])
}

// excluded reports whether annotations exclude a container.
func excluded(ann map[string]string, container string) bool {
	v, ok := hintValue(ann, AnnotationExclude, container)
	if !ok {
		return false
	}
	b, err := strconv.ParseBool(strings.ToLower(strings.TrimSpace(v)))
	return err == nil && b
}

// podFields are the parts of the metadata shared by every container of a
// pod (and by every event of those containers).
type podFields struct {
	namespace, name, uid, ip, node string
	owner                          Owner
	labels, annotations, nsLabels  *event.Fields
}

// metaBuilder builds metadata values.
type metaBuilder struct {
	sourceID    string
	node        string
	annotations []string // globs of the annotation keys kept
}

// podFields builds the shared parts of a pod's metadata.
func (b *metaBuilder) podFields(p *corev1.Pod, nsLabels map[string]string) *podFields {
	pf := &podFields{
		namespace: p.Namespace, name: p.Name, uid: string(p.UID), ip: p.Status.PodIP,
		node: p.Spec.NodeName, owner: OwnerOf(p),
		labels:   mapFields(p.Labels, nil),
		nsLabels: mapFields(nsLabels, nil),
	}
	if pf.node == "" {
		pf.node = b.node
	}
	if len(b.annotations) > 0 {
		pf.annotations = mapFields(p.Annotations, func(k string) bool {
			for _, g := range b.annotations {
				if doublestar.MatchUnvalidated(g, k) {
					return true
				}
			}
			return false
		})
	}
	return pf
}

// containerMeta builds the metadata of one container.
func (b *metaBuilder) containerMeta(pf *podFields, c containerRef, ann map[string]string) *event.Meta {
	fs := make([]event.Field, 0, 16)
	add := func(k, v string) {
		if v != "" {
			fs = append(fs, event.Field{Key: k, Value: event.StringValue(v)})
		}
	}
	obj := func(k string, f *event.Fields) {
		if f != nil && f.Len() > 0 {
			fs = append(fs, event.Field{Key: k, Value: event.ObjectValue(f)})
		}
	}
	add("namespace", pf.namespace)
	add("pod_name", pf.name)
	add("pod_uid", pf.uid)
	add("pod_ip", pf.ip)
	add("node_name", pf.node)
	add("owner_kind", pf.owner.Kind)
	add("owner_name", pf.owner.Name)
	add("container_name", c.name)
	add("container_image", c.image)
	add("container_id", c.id)
	if c.id != "" || c.restarts > 0 {
		fs = append(fs, event.Field{Key: "restart_count", Value: event.IntValue(int64(c.restarts))})
	}
	obj("labels", pf.labels)
	obj("annotations", pf.annotations)
	obj("namespace_labels", pf.nsLabels)
	if ann != nil {
		var hs []event.Field
		if v, ok := hintValue(ann, AnnotationParser, c.name); ok && v != "" {
			hs = append(hs, event.Field{Key: HintParser, Value: event.StringValue(v)})
		}
		if v, ok := hintValue(ann, AnnotationMultiline, c.name); ok && v != "" {
			hs = append(hs, event.Field{Key: HintMultiline, Value: event.StringValue(v)})
		}
		if len(hs) > 0 {
			obj("hints", event.NewFields(hs...))
		}
	}
	return b.wrap(event.NewFields(fs...), pf.node)
}

// pathMeta builds the metadata of a container whose pod the API did not
// show: what the directory names tell, the node, and the namespace's
// labels when the namespace is known.
func (b *metaBuilder) pathMeta(ref dirRef, container string, nsLabels map[string]string) *event.Meta {
	fs := []event.Field{
		{Key: "namespace", Value: event.StringValue(ref.namespace)},
		{Key: "pod_name", Value: event.StringValue(ref.pod)},
		{Key: "pod_uid", Value: event.StringValue(ref.uid)},
		{Key: "node_name", Value: event.StringValue(b.node)},
		{Key: "container_name", Value: event.StringValue(container)},
	}
	if l := mapFields(nsLabels, nil); l != nil {
		fs = append(fs, event.Field{Key: "namespace_labels", Value: event.ObjectValue(l)})
	}
	return b.wrap(event.NewFields(fs...), b.node)
}

func (b *metaBuilder) wrap(k8s *event.Fields, host string) *event.Meta {
	fs := make([]event.Field, 0, 3)
	fs = append(fs, event.Field{Key: FieldSourceType, Value: event.StringValue(SourceType)})
	if host != "" {
		fs = append(fs, event.Field{Key: FieldHost, Value: event.StringValue(host)})
	}
	fs = append(fs, event.Field{Key: FieldKubernetes, Value: event.ObjectValue(k8s)})
	return event.NewMeta(b.sourceID, event.NewFields(fs...))
}

// mapFields turns a string map into fields sorted by key, keeping the keys
// keep accepts (all when keep is nil); nil when none is kept.
func mapFields(m map[string]string, keep func(string) bool) *event.Fields {
	if len(m) == 0 {
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		if keep == nil || keep(k) {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	slices.Sort(keys)
	fs := make([]event.Field, len(keys))
	for i, k := range keys {
		fs[i] = event.Field{Key: k, Value: event.StringValue(m[k])}
	}
	return event.NewFields(fs...)
}
