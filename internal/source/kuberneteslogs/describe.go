package kuberneteslogs

import "github.com/drover-dev/drover/internal/status"

// Describe lists the containers the source follows, one pod_container
// target each (labels namespace, pod, pod_uid, container), with their
// state and positions; the containers its selection or a drover.io/exclude
// annotation leaves out, as excluded targets with the rule; and the
// open-file budget (status.Describer).
func (s *Source) Describe() status.Description {
	ts := s.f.Targets()
	for _, e := range s.disc.Excluded() {
		ts = append(ts, status.Target{
			Kind: status.TargetPod, Key: e.UID + "/" + e.Container, State: status.StateExcluded, Reason: e.Rule,
			Labels: map[string]string{"namespace": e.Namespace, "pod": e.Pod, "pod_uid": e.UID, "container": e.Container},
		})
	}
	return status.Description{Targets: ts, Detail: s.f.FilesStatus()}
}
