# Nomad's event stream, routed by topic to two sinks: allocation and
# deployment events to Elasticsearch (a daily index per topic), everything
# else to an HTTP collector. The seeds did this with Fluentd filters that
# picked the destination by tag.
#
# Run one instance per cluster (see docs/components/source-nomad_events.md).
#
#   drover validate --config examples/nomad-events-by-topic.hcl
#   drover test examples/nomad-events-by-topic.hcl

data_dir = "/var/lib/drover"

source "nomad_events" "cluster" {
  topics = ["Job", "Allocation", "Deployment", "Evaluation", "Node"]
}

# The event's payload becomes fields under "event", for searching by any
# attribute of the job or allocation; topic, type and the summary fields the
# source adds stay at the top.
transform "parse" "payload" {
  inputs = ["cluster"]
  format = "json"
  target = "event"
  hints  = false
}

transform "route" "by_topic" {
  inputs = ["payload"]
  route {
    name      = "workloads"
    condition = "topic in [\"Allocation\", \"Deployment\"]"
  }
  route {
    name      = "failures"
    condition = "client_status == \"failed\" || status == \"failed\""
  }
}

sink "elasticsearch" "workloads" {
  inputs        = ["by_topic.workloads"]
  endpoint      = env("ES_ENDPOINT", "http://elasticsearch.service.consul:9200")
  index         = "nomad-{{ topic }}-{{ %Y.%m.%d }}"
  default_index = "nomad-events"
}

sink "http" "collector" {
  inputs = ["by_topic._unmatched", "by_topic.failures"]
  uri    = env("COLLECTOR_URI", "http://collector.service.consul:8080/nomad-events")
}

test "allocations go to Elasticsearch, the rest to the collector" {
  input {
    insert_at = "payload"
    message   = "{\"Topic\":\"Allocation\",\"Type\":\"AllocationUpdated\",\"Payload\":{\"Allocation\":{\"ClientStatus\":\"running\"}}}"
    fields    = { topic = "Allocation", type = "AllocationUpdated", client_status = "running" }
  }
  input {
    insert_at = "payload"
    message   = "{\"Topic\":\"Node\",\"Type\":\"NodeRegistration\",\"Payload\":{}}"
    fields    = { topic = "Node", type = "NodeRegistration", status = "ready" }
  }
  output {
    extract_from = "by_topic.workloads"
    condition    = "topic == \"Allocation\" && event.Payload.Allocation.ClientStatus == \"running\""
    events       = 1
  }
  output {
    extract_from = "by_topic._unmatched"
    condition    = "topic == \"Node\""
    events       = 1
  }
  no_output_from = ["by_topic.failures"]
}

test "a failed allocation reaches both sinks" {
  input {
    insert_at = "payload"
    message   = "{\"Topic\":\"Allocation\",\"Payload\":{}}"
    fields    = { topic = "Allocation", client_status = "failed" }
  }
  output {
    extract_from = "by_topic.workloads"
    events       = 1
  }
  output {
    extract_from = "by_topic.failures"
    events       = 1
  }
  no_output_from = ["by_topic._unmatched"]
}
