package kubernetes

import (
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

// Annotations and labels the discoverer reads.
const (
	// MirrorPodAnnotation holds, on the API's mirror of a static pod, the
	// UID the kubelet uses for the static pod's directories (its config
	// hash); the mirror's own metadata.uid differs.
	MirrorPodAnnotation = "kubernetes.io/config.mirror"
	// podTemplateHashLabel is set by the Deployment controller on a
	// ReplicaSet's pods; the ReplicaSet is "<deployment>-<hash>".
	podTemplateHashLabel = "pod-template-hash"
)

// slimPod is what the informer keeps of a pod (see slim): metadata,
// node, IP, phase and containers, without managedFields, volumes, probes,
// conditions or the environment, so that the cache of thousands of pods
// stays small.
//
// Only the annotations keep accepts are kept (nil keeps all).
func slimPod(p *corev1.Pod, keep func(string) bool) *corev1.Pod {
	ann := p.Annotations
	if keep != nil && len(ann) > 0 {
		ann = nil
		for k, v := range p.Annotations {
			if keep(k) {
				if ann == nil {
					ann = make(map[string]string)
				}
				ann[k] = v
			}
		}
	}
	out := &corev1.Pod{
		TypeMeta: p.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{
			Name: p.Name, Namespace: p.Namespace, UID: p.UID, ResourceVersion: p.ResourceVersion,
			Labels: p.Labels, Annotations: ann, OwnerReferences: p.OwnerReferences,
			DeletionTimestamp: p.DeletionTimestamp,
		},
		Spec: corev1.PodSpec{NodeName: p.Spec.NodeName},
		Status: corev1.PodStatus{
			Phase: p.Status.Phase, PodIP: p.Status.PodIP,
			ContainerStatuses:          slimStatuses(p.Status.ContainerStatuses),
			InitContainerStatuses:      slimStatuses(p.Status.InitContainerStatuses),
			EphemeralContainerStatuses: slimStatuses(p.Status.EphemeralContainerStatuses),
		},
	}
	for _, c := range p.Spec.InitContainers {
		out.Spec.InitContainers = append(out.Spec.InitContainers, corev1.Container{Name: c.Name, Image: c.Image})
	}
	for _, c := range p.Spec.Containers {
		out.Spec.Containers = append(out.Spec.Containers, corev1.Container{Name: c.Name, Image: c.Image})
	}
	for _, c := range p.Spec.EphemeralContainers {
		out.Spec.EphemeralContainers = append(out.Spec.EphemeralContainers, corev1.EphemeralContainer{
			EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: c.Name, Image: c.Image}})
	}
	return out
}

func slimStatuses(in []corev1.ContainerStatus) []corev1.ContainerStatus {
	if len(in) == 0 {
		return nil
	}
	out := make([]corev1.ContainerStatus, len(in))
	for i, s := range in {
		out[i] = corev1.ContainerStatus{Name: s.Name, ContainerID: s.ContainerID, RestartCount: s.RestartCount, Image: s.Image}
	}
	return out
}

// slim returns the informers' transform: pods and namespaces are stored
// without what discovery does not read; of the annotations, those keep
// accepts.
func slim(keep func(string) bool) cache.TransformFunc {
	return func(obj any) (any, error) { return slimObject(obj, keep), nil }
}

func slimObject(obj any, keep func(string) bool) any {
	switch o := obj.(type) {
	case *corev1.Pod:
		return slimPod(o, keep)
	case *corev1.Namespace:
		return &corev1.Namespace{TypeMeta: o.TypeMeta, ObjectMeta: metav1.ObjectMeta{
			Name: o.Name, UID: o.UID, ResourceVersion: o.ResourceVersion, Labels: o.Labels}}
	}
	return obj
}

// dirUID is the UID in the pod's log directory name: the mirror
// annotation's for the mirror of a static pod, else metadata.uid.
func dirUID(p *corev1.Pod) string {
	if h := p.Annotations[MirrorPodAnnotation]; h != "" {
		return h
	}
	return string(p.UID)
}

// containerRef is one container of a pod spec, with its status.
type containerRef struct {
	name, image, id string
	restarts        int32
}

// containers lists the pod's init, regular and ephemeral containers, each
// with its status when the kubelet reported one.
func containers(p *corev1.Pod) []containerRef {
	var out []containerRef
	add := func(name, image string, statuses []corev1.ContainerStatus) {
		if !validName(name) {
			return
		}
		c := containerRef{name: name, image: image}
		for _, s := range statuses {
			if s.Name == name {
				c.id, c.restarts = s.ContainerID, s.RestartCount
				if c.image == "" {
					c.image = s.Image
				}
			}
		}
		out = append(out, c)
	}
	for _, c := range p.Spec.InitContainers {
		add(c.Name, c.Image, p.Status.InitContainerStatuses)
	}
	for _, c := range p.Spec.Containers {
		add(c.Name, c.Image, p.Status.ContainerStatuses)
	}
	for _, c := range p.Spec.EphemeralContainers {
		add(c.Name, c.Image, p.Status.EphemeralContainerStatuses)
	}
	return out
}

// validName reports whether a name can be a path element.
func validName(s string) bool {
	return s != "" && s != "." && s != ".." && !strings.ContainsAny(s, "/\\\x00")
}

// Owner is the workload that runs a pod.
type Owner struct {
	Kind, Name string
}

// OwnerOf resolves a pod's controller (the ownerReference with controller
// set, else the first) to the workload a user knows, without asking the
// API:
//
//   - a ReplicaSet named "<name>-<hash>" whose pods carry
//     pod-template-hash=<hash> is Deployment <name> (the Deployment
//     controller names its ReplicaSets so and labels their pods);
//   - a Job named "<name>-<minutes>" (minutes since the Unix epoch, within
//     a plausible range) is CronJob <name> (the CronJob controller names
//     its Jobs so);
//   - any other owner (StatefulSet, DaemonSet, Job, a bare ReplicaSet,
//     ReplicationController, Node for static pods, a custom resource) is
//     reported as it is.
//
// A pod without owners has the zero Owner.
func OwnerOf(p *corev1.Pod) Owner {
	var ref *metav1.OwnerReference
	for i := range p.OwnerReferences {
		r := &p.OwnerReferences[i]
		if r.Controller != nil && *r.Controller {
			ref = r
			break
		}
		if ref == nil {
			ref = r
		}
	}
	if ref == nil {
		return Owner{}
	}
	switch ref.Kind {
	case "ReplicaSet":
		if h := p.Labels[podTemplateHashLabel]; h != "" {
			if name, ok := strings.CutSuffix(ref.Name, "-"+h); ok && name != "" {
				return Owner{Kind: "Deployment", Name: name}
			}
		}
	case "Job":
		if i := strings.LastIndexByte(ref.Name, '-'); i > 0 {
			if m, err := strconv.ParseInt(ref.Name[i+1:], 10, 64); err == nil && plausibleScheduleMinute(m) {
				return Owner{Kind: "CronJob", Name: ref.Name[:i]}
			}
		}
	}
	return Owner{Kind: ref.Kind, Name: ref.Name}
}

// plausibleScheduleMinute reports whether m can be the minute a CronJob's
// Job was scheduled: between 2000-01-01 and a year from now.
func plausibleScheduleMinute(m int64) bool {
	const y2000 = 946684800 / 60
	return m >= y2000 && m <= time.Now().Add(366*24*time.Hour).Unix()/60
}

// terminal reports whether a pod's containers will write no more: its
// phase is Succeeded or Failed.
func terminal(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}
