package kuberneteslogs

import "github.com/drover-dev/drover/internal/status"

// Describe lists the containers the source follows, one pod_container
// target each (labels namespace, pod, pod_uid, container), with their
// state and positions, and the open-file budget (status.Describer).
func (s *Source) Describe() status.Description {
	return status.Description{Targets: s.f.Targets(), Detail: s.f.FilesStatus()}
}
