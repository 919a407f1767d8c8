# drover: ships the task logs of every allocation on every client node, with
# their Nomad metadata, using drover's nomad_logs source. docs/nomad.md walks
# through it; docs/components/source-nomad_logs.md explains every option.
#
#   nomad acl policy apply drover deploy/nomad/drover-policy.hcl
#   nomad acl token create -name drover -policy drover -type client
#   nomad var put nomad/jobs/drover nomad_token=<secret ID> admin_token=$(openssl rand -hex 32)
#   nomad job run -var 'sink_uri=https://collector.example/ingest' \
#     -var 'sha256=<the archive's line in the release's SHA256SUMS>' deploy/nomad/drover.nomad.hcl
#
# The job fetches the release archive (its SHA-256 checked before it is
# unpacked) and runs it with raw_exec: drover reads the alloc dir where the
# agent keeps it and keeps its positions in a host directory that survives
# redeploys. The raw_exec driver must be enabled on the clients
# (plugin "raw_exec" { config { enabled = true } }). docs/nomad.md shows the
# exec and docker variants. The job runs on the clients of one architecture
# (arch); for a cluster with two, run a copy with the other arch, its
# checksum and another job name.

variable "drover_version" {
  type        = string
  default     = "v0.1.0"
  description = "The drover release to run."
}

variable "arch" {
  type        = string
  default     = "amd64"
  description = "The clients' architecture (amd64 or arm64); the job runs on those clients only."
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

variable "data_dir" {
  type        = string
  default     = "/var/lib/drover"
  description = "Host directory for drover's checkpoints; keep it across redeploys."
}

variable "datacenters" {
  type        = list(string)
  default     = ["*"]
  description = "Datacenters the job runs in."
}

variable "admin_network" {
  type        = string
  default     = "default"
  description = "The client host_network the admin endpoint listens on: the one Nomad's checks and the metrics scraper reach, not a public one."
}

variable "sink_uri" {
  type        = string
  description = "Where the logs go: the URI of the http sink (NDJSON)."
}

locals {
  artifact_url = var.artifact_url != "" ? var.artifact_url : "${var.release_url}/${var.drover_version}/drover_${var.drover_version}_linux_${var.arch}.tar.gz"
}

job "drover" {
  type        = "system"
  datacenters = var.datacenters
  priority    = 80

  constraint {
    attribute = "${attr.cpu.arch}"
    value     = var.arch
  }

  group "drover" {
    # On every node at once would restart every shipper together; one node
    # after the other instead. The new allocation starts after the old one
    # stopped and saved its positions.
    update {
      max_parallel = 1
      stagger      = "10s"
    }

    restart {
      attempts = 10
      interval = "5m"
      delay    = "10s"
      mode     = "delay"
    }

    # The admin endpoint listens on the node's address on admin_network
    # (NOMAD_ADDR_admin), not on 0.0.0.0: Nomad's checks and the metrics
    # scraper reach it there, other interfaces do not. /health and /ready
    # answer without a token (Nomad's checks send none); /metrics and
    # /api/v1/health need the admin token (the scraper has it).
    network {
      port "admin" {
        static       = 7688
        host_network = var.admin_network
      }
    }

    service {
      name     = "drover"
      provider = "nomad"
      port     = "admin"
      tags     = ["metrics"]

      # Readiness: is drover shipping? It fails while a sink cannot deliver
      # for longer than health.sink_failing_after (and for the other rules
      # of the health block), and at once when drover stops. Nomad marks the
      # service unhealthy and does NOT restart drover: a restart does not
      # bring a destination back, it only drops what drover holds in memory
      # (the files stay the buffer either way). Alert on it instead
      # (deploy/prometheus/drover-alerts.yml).
      check {
        name     = "ready"
        type     = "http"
        path     = "/ready"
        interval = "10s"
        timeout  = "2s"
      }

      # Liveness: does the process answer at all? Three failures in a row
      # (a process that no longer serves HTTP) and Nomad restarts the task.
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
      driver = "raw_exec"

      # drover delivers what it holds for up to shutdown_timeout (30s),
      # then saves its positions.
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
        command = "${NOMAD_TASK_DIR}/drover"
        args    = ["run", "--config", "${NOMAD_TASK_DIR}/drover.hcl"]
      }

      # The local agent. With TLS use https:// and set ca_file (and
      # cert_file, key_file) in the nomad block below.
      env {
        NOMAD_ADDR = "http://127.0.0.1:4646"
      }

      # The Nomad token, from the job's own Nomad variable (readable by the
      # job's workload identity without further policy).
      template {
        destination = "${NOMAD_SECRETS_DIR}/nomad.env"
        env         = true
        change_mode = "restart"
        data        = <<-EOT
          NOMAD_TOKEN={{ with nomadVar "nomad/jobs/drover" }}{{ .nomad_token }}{{ end }}
        EOT
      }

      # The admin token, from the same variable; a new one is applied with
      # SIGHUP.
      template {
        destination   = "${NOMAD_SECRETS_DIR}/admin-token"
        perms         = "0400"
        change_mode   = "signal"
        change_signal = "SIGHUP"
        data          = <<-EOT
          {{ with nomadVar "nomad/jobs/drover" }}{{ .admin_token }}{{ end }}
        EOT
      }

      # A changed configuration is applied with SIGHUP (a reload keeps the
      # positions).
      template {
        destination   = "local/drover.hcl"
        change_mode   = "signal"
        change_signal = "SIGHUP"
        data          = <<-EOT
          data_dir         = "${var.data_dir}"
          shutdown_timeout = "30s"
          log { format = "json" }

          admin {
            address         = "{{ env "NOMAD_ADDR_admin" }}"
            token_file      = "{{ env "NOMAD_SECRETS_DIR" }}/admin-token"
            unauthenticated = ["/health", "/ready"]
          }

          source "nomad_logs" "tasks" {
            # The nomad block is empty: NOMAD_ADDR and NOMAD_TOKEN come from
            # the environment. node_id and alloc_dir come from the agent.

            # Ship everything but the sidecars of Consul Connect; jobs opt
            # out with meta = { "drover.enabled" = "false" }.
            exclude {
              tasks = ["connect-proxy-*"]
            }
          }

          sink "http" "logs" {
            inputs      = ["tasks"]
            uri         = "${var.sink_uri}"
            encoding    = "ndjson"
            compression = "gzip"
          }
        EOT
      }

      resources {
        cpu    = 200
        memory = 256
      }
    }
  }
}
