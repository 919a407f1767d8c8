# drover: ships the task logs of every allocation on every client node, with
# their Nomad metadata, using drover's nomad_logs source. docs/nomad.md walks
# through it; docs/components/source-nomad_logs.md explains every option.
#
#   nomad acl policy apply drover deploy/nomad/drover-policy.hcl
#   nomad acl token create -name drover -policy drover -type client
#   nomad var put nomad/jobs/drover nomad_token=<secret ID>
#   nomad job run -var 'sink_uri=https://collector.example/ingest' deploy/nomad/drover.nomad.hcl
#
# This job uses raw_exec: drover runs on the host, reads the alloc dir where
# the agent keeps it, and keeps its positions in a host directory that
# survives redeploys. The raw_exec driver must be enabled on the clients
# (plugin "raw_exec" { config { enabled = true } }). docs/nomad.md shows the
# exec and docker variants.

variable "drover_bin" {
  type        = string
  default     = "/usr/local/bin/drover"
  description = "Path of the drover binary on the clients."
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

variable "sink_uri" {
  type        = string
  description = "Where the logs go: the URI of the http sink (NDJSON)."
}

job "drover" {
  type        = "system"
  datacenters = var.datacenters
  priority    = 80

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

    network {
      port "admin" {
        static = 7688
      }
    }

    service {
      name     = "drover"
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
      driver = "raw_exec"

      # drover delivers what it holds for up to shutdown_timeout (30s),
      # then saves its positions.
      kill_signal  = "SIGTERM"
      kill_timeout = "45s"

      config {
        command = var.drover_bin
        args    = ["run", "--config", "${NOMAD_TASK_DIR}/drover.hcl"]
      }

      # The local agent. With TLS use https:// and set ca_file (and
      # cert_file, key_file) in the nomad block below.
      env {
        NOMAD_ADDR = "http://127.0.0.1:4646"
      }

      # The token, from the job's own Nomad variable (readable by the job's
      # workload identity without further policy).
      template {
        destination = "${NOMAD_SECRETS_DIR}/nomad.env"
        env         = true
        change_mode = "restart"
        data        = <<-EOT
          NOMAD_TOKEN={{ with nomadVar "nomad/jobs/drover" }}{{ .nomad_token }}{{ end }}
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
          admin { address = "0.0.0.0:{{ env "NOMAD_PORT_admin" }}" }
          log { format = "json" }

          source "nomad_logs" "tasks" {
            # The nomad block is empty: NOMAD_ADDR and NOMAD_TOKEN come from
            # the environment. node_id and alloc_dir come from the agent.

            # Ship everything but the sidecars of Consul Connect; jobs opt
            # out with meta { "drover.enabled" = "false" }.
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
