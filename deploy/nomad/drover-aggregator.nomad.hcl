# drover-aggregator: a pool of drover aggregators that read the topics the
# node agents write (drover's kafka sink, a topic per namespace) and deliver
# them to ClickHouse and Loki. docs/aggregators.md explains sizing, failures
# and scaling out.
#
# The aggregators share one consumer group and split the partitions among
# themselves: run at most as many as the topics have partitions.
#
#   nomad var put nomad/jobs/drover-aggregator kafka_password=<secret> clickhouse_password=<secret>
#   nomad job run -var 'brokers=["kafka-1:9092","kafka-2:9092","kafka-3:9092"]' \
#     -var 'clickhouse=http://clickhouse.service.consul:8123' \
#     -var 'loki=http://loki.service.consul:3100' deploy/nomad/drover-aggregator.nomad.hcl
#
# Scale out or in with `nomad job scale drover-aggregator aggregator <N>`:
# the group moves only the partitions that must move (cooperative
# rebalancing), the others keep flowing.

variable "image" {
  type        = string
  default     = "ghcr.io/drover-dev/drover:latest"
  description = "The drover container image."
}

variable "datacenters" {
  type        = list(string)
  default     = ["*"]
  description = "Datacenters the job may run in."
}

variable "count" {
  type        = number
  default     = 3
  description = "Aggregators: at most the number of partitions of the topics."
}

variable "brokers" {
  type        = list(string)
  description = "Kafka bootstrap brokers, host:port."
}

variable "clickhouse" {
  type        = string
  description = "ClickHouse HTTP endpoint."
}

variable "loki" {
  type        = string
  description = "Loki base URL."
}

job "drover-aggregator" {
  type        = "service"
  datacenters = var.datacenters

  group "aggregator" {
    count = var.count

    # Aggregators on different nodes (and racks, where the nodes say so):
    # losing one node costs one member of the group, whose partitions the
    # others take over after session_timeout.
    spread {
      attribute = "${node.unique.id}"
    }
    spread {
      attribute = "${meta.rack}"
      weight    = 50
    }
    constraint {
      distinct_hosts = true
    }

    # Replace one aggregator at a time: each replacement is one member
    # leaving (its partitions are committed and handed over) and one
    # joining.
    update {
      max_parallel     = 1
      canary           = 0
      min_healthy_time = "20s"
      auto_revert      = true
    }

    # An aggregator keeps no state on disk: its positions are the group's
    # committed offsets in Kafka. A replacement anywhere continues from
    # them.
    ephemeral_disk {
      size = 300
    }

    network {
      port "admin" {
        to = 8686
      }
    }

    service {
      name     = "drover-aggregator"
      provider = "nomad"
      port     = "admin"

      check {
        type     = "http"
        path     = "/ready"
        interval = "10s"
        timeout  = "2s"
      }
    }

    task "drover" {
      driver = "docker"

      # drover delivers what it holds for up to shutdown_timeout (30s),
      # commits the acknowledged offsets and leaves the group.
      kill_signal  = "SIGTERM"
      kill_timeout = "45s"

      config {
        image = var.image
        args  = ["run", "--config", "/local/drover.hcl"]
        ports = ["admin"]
      }

      template {
        destination = "${NOMAD_SECRETS_DIR}/secrets.env"
        env         = true
        change_mode = "restart"
        data        = <<-EOT
          {{ with nomadVar "nomad/jobs/drover-aggregator" }}
          KAFKA_PASSWORD={{ .kafka_password }}
          CLICKHOUSE_PASSWORD={{ .clickhouse_password }}
          {{ end }}
        EOT
      }

      # drover's own templates use {{ }}: this template's actions use
      # [[ ]] instead.
      template {
        destination     = "local/drover.hcl"
        change_mode     = "signal"
        change_signal   = "SIGHUP"
        left_delimiter  = "[["
        right_delimiter = "]]"
        data            = <<-EOT
          data_dir         = "/alloc/data/drover"
          shutdown_timeout = "30s"
          admin { address = "0.0.0.0:8686" }
          log { format = "json" }

          # Every topic the node agents write: logs-<namespace>.
          source "kafka" "nodes" {
            brokers   = ${jsonencode(var.brokers)}
            topics    = ["^logs-.*"]
            group_id  = "drover-aggregators"
            client_id = "drover-aggregator-[[ env "NOMAD_ALLOC_INDEX" ]]"
            sasl {
              mechanism = "scram-sha-512"
              username  = "drover-aggregator"
              password  = env("KAFKA_PASSWORD")
            }
          }

          # One table, ordered for the usual queries; the node agent's
          # metadata arrives as it left the node.
          sink "clickhouse" "clickhouse" {
            inputs              = ["nodes"]
            endpoint            = "${var.clickhouse}"
            table               = "logs"
            skip_unknown_fields = true
            auth {
              strategy = "basic"
              user     = "drover"
              password = env("CLICKHOUSE_PASSWORD")
            }
          }

          # The same events in Loki, a stream per task.
          sink "loki" "loki" {
            inputs   = ["nodes"]
            endpoint = "${var.loki}"
            labels = {
              namespace = "{{ nomad.namespace }}"
              job       = "{{ nomad.job_name }}"
              task      = "{{ nomad.task_name }}"
              stream    = "{{ stream }}"
            }
          }
        EOT
      }

      resources {
        cpu    = 1000
        memory = 512
      }
    }
  }
}
