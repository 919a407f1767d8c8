# drover-aggregator: a pool of drover aggregators that read the topics the
# node agents write (drover's kafka sink, a topic per namespace) and deliver
# them to ClickHouse and Loki. docs/aggregators.md explains sizing, failures
# and scaling out.
#
# The aggregators share one consumer group and split the partitions among
# themselves: run at most as many as the topics have partitions.
#
#   nomad var put nomad/jobs/drover-aggregator kafka_password=<secret> clickhouse_password=<secret> \
#     admin_token=$(openssl rand -hex 32)
#   nomad job run -var 'brokers=["kafka-1:9092","kafka-2:9092","kafka-3:9092"]' \
#     -var 'clickhouse=http://clickhouse.service.consul:8123' \
#     -var 'loki=http://loki.service.consul:3100' \
#     -var 'sha256=<the archive's line in the release's SHA256SUMS>' deploy/nomad/drover-aggregator.nomad.hcl
#
# The job fetches the release archive (its SHA-256 checked before it is
# unpacked) and runs it with the exec driver, as an unprivileged user: an
# aggregator needs only the network. To run the container image instead
# (make image, pushed to your registry), see docs/install.md.
#
# Scale out or in with `nomad job scale drover-aggregator aggregator <N>`:
# the group moves only the partitions that must move (cooperative
# rebalancing), the others keep flowing.

variable "drover_version" {
  type        = string
  default     = "v0.1.0"
  description = "The drover release to run."
}

variable "arch" {
  type        = string
  default     = "amd64"
  description = "The architecture of the clients it may run on (amd64 or arm64)."
}

variable "release_url" {
  type        = string
  default     = "https://github.com/drover-dev/drover/releases/download"
  description = "Where releases are: <release_url>/<version>/drover_<version>_linux_<arch>.tar.gz (a mirror works the same)."
}

variable "artifact_url" {
  type        = string
  default     = ""
  description = "The archive's URL; empty: the release's archive for drover_version and arch under release_url."
}

variable "sha256" {
  type        = string
  description = "The archive's SHA-256, as its line in the release's SHA256SUMS says: Nomad checks it before unpacking."
}

variable "admin_network" {
  type        = string
  default     = "default"
  description = "The client host_network the admin endpoint listens on: the one Nomad's checks and the metrics scraper reach."
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

locals {
  artifact_url = var.artifact_url != "" ? var.artifact_url : "${var.release_url}/${var.drover_version}/drover_${var.drover_version}_linux_${var.arch}.tar.gz"
}

job "drover-aggregator" {
  type        = "service"
  datacenters = var.datacenters

  constraint {
    attribute = "${attr.cpu.arch}"
    value     = var.arch
  }

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
    # joining. A new version whose /ready does not pass (it cannot deliver)
    # is rolled back.
    update {
      max_parallel     = 1
      canary           = 0
      health_check     = "checks"
      min_healthy_time = "20s"
      auto_revert      = true
    }

    # An aggregator keeps no state on disk: its positions are the group's
    # committed offsets in Kafka. A replacement anywhere continues from
    # them.
    ephemeral_disk {
      size = 300
    }

    # The admin endpoint listens on the node's address on admin_network
    # (NOMAD_ADDR_admin, a dynamic port), not on 0.0.0.0. /health and
    # /ready answer without a token (Nomad's checks send none); /metrics
    # and /api/v1/health need the admin token (the scraper has it).
    network {
      port "admin" {
        host_network = var.admin_network
      }
    }

    service {
      name     = "drover-aggregator"
      provider = "nomad"
      port     = "admin"
      tags     = ["metrics"]

      # Readiness: is the aggregator delivering? Not restarted when it
      # fails (a restart does not bring ClickHouse or Loki back); it fails
      # a deployment, and the alert rules tell the operator.
      check {
        name     = "ready"
        type     = "http"
        path     = "/ready"
        interval = "10s"
        timeout  = "2s"
      }

      # Liveness: a process that no longer answers is restarted.
      check {
        name     = "alive"
        type     = "http"
        path     = "/health"
        interval = "10s"
        timeout  = "2s"

        check_restart {
          limit = 3
          grace = "30s"
        }
      }
    }

    task "drover" {
      driver = "exec"

      # drover delivers what it holds for up to shutdown_timeout (30s),
      # commits the acknowledged offsets and leaves the group.
      kill_signal  = "SIGTERM"
      kill_timeout = "45s"

      artifact {
        source      = local.artifact_url
        destination = "local/"

        options {
          checksum = "sha256:${var.sha256}"
        }
      }

      config {
        command = "/local/drover"
        args    = ["run", "--config", "/local/drover.hcl"]
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

      # The admin token; a new one is applied with SIGHUP. The exec driver
      # runs drover as nobody (65534): the file is theirs alone.
      template {
        destination   = "${NOMAD_SECRETS_DIR}/admin-token"
        perms         = "0400"
        uid           = 65534
        gid           = 65534
        change_mode   = "signal"
        change_signal = "SIGHUP"
        data          = <<-EOT
          {{ with nomadVar "nomad/jobs/drover-aggregator" }}{{ .admin_token }}{{ end }}
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
          log { format = "json" }

          admin {
            address         = "[[ env "NOMAD_ADDR_admin" ]]"
            token_file      = "/secrets/admin-token"
            unauthenticated = ["/health", "/ready"]
          }

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
