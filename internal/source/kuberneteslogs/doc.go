// Package kuberneteslogs implements the "kubernetes_logs" source: it ships
// the logs of every container of the pods on one Kubernetes node, each
// line decoded from the runtime's format and enriched with the metadata of
// its pod and container, without loss.
//
// It is three parts and a checkpoint format:
//
//   - kubernetes.Discoverer (internal/discovery/kubernetes) finds the
//     containers: the node's pods through client-go informers (a
//     spec.nodeName field selector, namespaces for their labels) and the
//     pod log directory on disk; one group per pod keyed by UID, one
//     target per container keyed "<pod_uid>/<container>", files of the
//     discovery.Kubernetes scheme. A pod deleted before its files are read
//     keeps its metadata until they are; a pod the API never showed is
//     shipped with the metadata its path gives, counted with a reason.
//   - follow.Follower (internal/follow) reads them: the kubelet's rotation
//     followed by file identity (internal/follow/kube.go), every unread
//     file held open so that rotation, compression and the pod's removal
//     take nothing unread, positions and losses.
//   - decoder (decode.go) turns each CRI or docker json-file record into
//     its message, the runtime's time and the stream (a "stream" field of
//     the event), and rejoins split lines per container stream, holding
//     the Acks of the batches whose pieces wait.
//   - state.go keeps the positions: one entry per container, in the file
//     of its first unfinished record, by identity.
//
// docs/components/source-kubernetes_logs.md is the user documentation.
package kuberneteslogs
