# ACL policy for drover's nomad_events source (docs/components/source-nomad_events.md).
#
#   nomad acl policy apply -description "drover nomad_events source" drover-events drover-events-policy.hcl
#   nomad acl token create -name drover-events -policy drover-events -type client
#
# read-job   the Allocation, Deployment, Evaluation and Job topics; the
#            allocation, deployment and evaluation lists (resync = true,
#            start_at = "now").
# list-jobs  the job list (resync = true, start_at = "now").
# node read  the Node topic and the node list.
#
# topics = ["*"] (and NodePool or the ACL topics) need a management token
# instead. Nomad checks read-job once for the subscribed namespace ("*": any
# namespace) and then streams the events of every namespace: this policy is
# for a token meant to see the whole cluster.

namespace "*" {
  capabilities = ["list-jobs", "read-job"]
}

node {
  policy = "read"
}
