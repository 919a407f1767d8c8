# ACL policy for drover's nomad_logs source, run on every client node
# (deploy/nomad/drover.nomad.hcl, docs/nomad.md).
#
#   nomad acl policy apply -description "drover nomad_logs source" drover deploy/nomad/drover-policy.hcl
#   nomad acl token create -name drover -policy drover -type client
#
# namespace read  GET /v1/node/<id>/allocations returns the allocations of
#                 the namespaces the token may read (read-job), with their
#                 job and meta; the others are left out silently.
# node read       the node's allocation list and the node itself.
# agent read      GET /v1/agent/self: the node id and the alloc dir (not
#                 needed when node_id and alloc_dir are both configured).

namespace "*" {
  policy = "read"
}

node {
  policy = "read"
}

agent {
  policy = "read"
}
