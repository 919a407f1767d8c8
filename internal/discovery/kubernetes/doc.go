// Package kubernetes discovers the container logs of one Kubernetes node
// and the metadata their events carry. It is the discovery half of the
// kubernetes_logs source (a discovery.Discoverer); following the files is
// internal/follow's job. It is the only package besides the test server
// (internal/kubetest) that imports client-go.
//
// # What it watches
//
//   - The node's pods, through a client-go informer whose list and watch
//     carry the field selector spec.nodeName=<node_name>: one list (or
//     watch-list) at start, then watches resumed from the last
//     resourceVersion (client-go may list from it after a broken
//     connection: the API server's watch cache serves that, not etcd),
//     bookmarks that keep that resourceVersion fresh, and a list of the
//     current state only after 410 Gone. No request is made per pod. The informer's cache holds slimmed pods (metadata,
//     node, IP, phase, container names, images and statuses; no
//     managedFields, volumes, environment or conditions), so thousands of
//     pods cost little memory.
//   - The namespaces (all of them, for their labels), through a second
//     informer: a label change of a namespace rebuilds its pods' groups.
//   - The pod log directory (pod_logs_dir, /var/log/pods), listed every
//     scan_interval: directories <namespace>_<pod>_<uid> of pods the API
//     has not shown, and directories the kubelet removed.
//
// # Groups and targets
//
// Each pod is one discovery.Group keyed by the UID of its log directory
// (metadata.uid, or for the mirror of a static pod the
// kubernetes.io/config.mirror annotation: the kubelet names the directory
// after the static pod's UID). Pods are keyed by UID, never by name: a
// pod recreated under the same name is another group. Each selected
// container (init, regular and ephemeral) is a target keyed
// "<uid>/<container>", Scheme discovery.Kubernetes, Dir
// <pod_logs_dir>/<namespace>_<pod>_<uid>/<container>, with one
// *event.Meta shared by all its events and kept across updates while it
// does not change.
//
//   - A pod whose phase is Succeeded or Failed is Terminal: its files
//     stay until the pod is deleted, read them to their end.
//   - A pod deleted from the API is Gone, with its targets and their last
//     metadata: the kubelet removes its directory soon after, and the
//     follower reads what it holds open with that metadata. A deleted pod
//     is remembered while its directory exists, so that the scan does not
//     take it for an unknown pod.
//   - A directory of a pod the API has not shown (a Job that ran and was
//     deleted within one watch gap, a pod created while the API is
//     unreachable) becomes a group at once, its container directories
//     targets without metadata (the follower holds their files open). If
//     the API shows the pod within unknown_pod_wait, its metadata comes
//     from the API; otherwise from the path (namespace, pod_name, pod_uid,
//     container_name, node_name, and namespace_labels when the namespace
//     is known), counted in path_metadata_total with the reason
//     "unknown_pod" (the API, in sync, never showed it) or
//     "api_unavailable" (the API could not be read). Its directory
//     disappearing makes it Gone.
//   - A group without targets that is not Gone: no container of the pod
//     is selected any more.
//
// # Selection and hints
//
// include and exclude blocks select containers by namespace globs,
// namespace label selector, pod label selector and container globs (a pod
// the API did not show is selected by namespace and container only).
// Annotations on the pod: drover.io/exclude = "true" leaves its logs
// unread; drover.io/parser and drover.io/multiline name the parse format
// and multiline preset of its lines, carried in the metadata as
// kubernetes.hints["drover.parser"] and ["drover.multiline"] for the
// transforms. "<annotation>.<container>" (drover.io/exclude.sidecar)
// applies to one container and wins over the pod's.
//
// # Owner
//
// kubernetes.owner_kind and owner_name name the pod's workload from its
// ownerReferences without asking the API: a ReplicaSet made by a
// Deployment is reported as the Deployment, a Job made by a CronJob as the
// CronJob (see OwnerOf).
//
// # The group channel
//
// Run follows the discovery.Discoverer contract: the first send is the
// full set (once the directory was listed and the informers listed, or
// InitialSyncWait passed), later sends hold only changed groups, sorted by
// key, merged while the follower is busy. List and watch failures are
// retried by client-go with backoff; while they fail the component's "api"
// condition is failing (health), and recovery is logged once.
package kubernetes
