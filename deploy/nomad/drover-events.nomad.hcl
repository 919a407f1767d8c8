# drover-events: ships the event stream of this Nomad cluster (deployments,
# allocation failures, node drains, job changes) with drover's nomad_events
# source. docs/components/source-nomad_events.md explains every choice.
#
# Run ONE instance per cluster: every subscriber gets every event.
#
#   nomad acl policy apply drover-events deploy/nomad/drover-events-policy.hcl
#   nomad acl token create -name drover-events -policy drover-events -type client
#   nomad var put nomad/jobs/drover-events nomad_token=<secret ID> admin_token=$(openssl rand -hex 32)
#   nomad job run -var 'sink_uri=https://collector.example/nomad-events' \
#     -var 'sha256=<the archive's line in the release's SHA256SUMS>' deploy/nomad/drover-events.nomad.hcl
#
# The job fetches the release archive (its SHA-256 checked before it is
# unpacked) and runs it with the exec driver, isolated and as an
# unprivileged user: it needs only the network and its allocation's data
# directory. To run the container image instead (make image, pushed to your
# registry), see docs/install.md.

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

variable "datacenters" {
  type        = list(string)
  default     = ["*"]
  description = "Datacenters the job may run in."
}

variable "admin_network" {
  type        = string
  default     = "default"
  description = "The client host_network the admin endpoint listens on: the one Nomad's checks and the metrics scraper reach."
}

variable "sink_uri" {
  type        = string
  description = "Where the events go: the URI of the http sink (NDJSON)."
}

locals {
  artifact_url = var.artifact_url != "" ? var.artifact_url : "${var.release_url}/${var.drover_version}/drover_${var.drover_version}_linux_${var.arch}.tar.gz"
}

job "drover-events" {
  type        = "service"
  datacenters = var.datacenters

  constraint {
    attribute = "${attr.cpu.arch}"
    value     = var.arch
  }

  group "drover" {
    count = 1

    # One instance at a time: no canaries, one allocation replaced after
    # the other. A new version whose /ready does not pass (it cannot reach
    # the sink or the event stream) is rolled back.
    update {
      max_parallel     = 1
      canary           = 0
      health_check     = "checks"
      min_healthy_time = "10s"
      healthy_deadline = "5m"
      auto_revert      = true
    }

    # The cursor lives in data_dir on the allocation's disk. sticky: a
    # replacement (job update, reschedule) goes to the same node when it
    # can and keeps the data; migrate: when it lands on another node, the
    # data is copied from the old one (if that node is reachable). A
    # replacement waits for the old allocation to stop before it starts.
    # The cursor is lost with the node, or when the allocation is
    # garbage-collected (job stopped or purged): drover then starts at
    # start_at ("oldest": a replay of Nomad's buffer, duplicates rather
    # than a gap).
    ephemeral_disk {
      size    = 300
      sticky  = true
      migrate = true
    }

    # Alternative: a host volume keeps the cursor whatever happens to the
    # allocation, but pins the job to the nodes that define it (in the
    # client configuration: host_volume "drover-events" { path = "..." }).
    # Use it with a single, dedicated node; on several nodes each would keep
    # its own, stale cursor. Uncomment this and the volume_mount below, and
    # set data_dir = "/var/lib/drover-events".
    #
    # volume "drover-events" {
    #   type      = "host"
    #   source    = "drover-events"
    #   read_only = false
    # }

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
      name     = "drover-events"
      provider = "nomad"
      port     = "admin"
      tags     = ["metrics"]

      # Readiness: is drover shipping? Not restarted when it fails (a
      # restart does not bring the sink or the event stream back); it
      # fails a deployment, and the alert rules tell the operator.
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
      # then saves its cursor.
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

      # volume_mount {
      #   volume      = "drover-events"
      #   destination = "/var/lib/drover-events"
      # }

      # The agent on this node; a client agent forwards the stream from
      # the servers. With TLS use https:// and set ca_file (and cert_file,
      # key_file) in the nomad block below.
      env {
        NOMAD_ADDR = "http://${attr.unique.network.ip-address}:4646"
      }

      # The Nomad token, from the job's own Nomad variable (readable by the
      # job's workload identity without further policy).
      template {
        destination = "${NOMAD_SECRETS_DIR}/nomad.env"
        env         = true
        change_mode = "restart"
        data        = <<-EOT
          NOMAD_TOKEN={{ with nomadVar "nomad/jobs/drover-events" }}{{ .nomad_token }}{{ end }}
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
          {{ with nomadVar "nomad/jobs/drover-events" }}{{ .admin_token }}{{ end }}
        EOT
      }

      template {
        destination   = "local/drover.hcl"
        change_mode   = "signal"
        change_signal = "SIGHUP"
        data          = <<-EOT
          data_dir         = "/alloc/data/drover"
          shutdown_timeout = "30s"
          log { format = "json" }

          admin {
            address         = "{{ env "NOMAD_ADDR_admin" }}"
            token_file      = "/secrets/admin-token"
            unauthenticated = ["/health", "/ready"]
          }

          source "nomad_events" "cluster" {
            # The nomad block is empty: NOMAD_ADDR and NOMAD_TOKEN come from
            # the environment.
            topics    = ["Job", "Allocation", "Deployment", "Evaluation", "Node"]
            namespace = "*"
            start_at  = "oldest"
            resync    = true
          }

          sink "http" "events" {
            inputs   = ["cluster"]
            uri      = "${var.sink_uri}"
            encoding = "ndjson"
          }
        EOT
      }

      resources {
        cpu    = 100
        memory = 128
      }
    }
  }
}
