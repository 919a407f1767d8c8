# drover-events: ships the event stream of this Nomad cluster (deployments,
# allocation failures, node drains, job changes) with drover's nomad_events
# source. docs/components/source-nomad_events.md explains every choice.
#
# Run ONE instance per cluster: every subscriber gets every event.
#
#   nomad acl policy apply drover-events deploy/nomad/drover-events-policy.hcl
#   nomad acl token create -name drover-events -policy drover-events -type client
#   nomad var put nomad/jobs/drover-events nomad_token=<secret ID>
#   nomad job run -var 'sink_uri=https://collector.example/nomad-events' deploy/nomad/drover-events.nomad.hcl

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

variable "sink_uri" {
  type        = string
  description = "Where the events go: the URI of the http sink (NDJSON)."
}

job "drover-events" {
  type        = "service"
  datacenters = var.datacenters

  group "drover" {
    count = 1

    # One instance at a time: no canaries, one allocation replaced after
    # the other.
    update {
      max_parallel = 1
      canary       = 0
      auto_revert  = true
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

    network {
      port "admin" {
        to = 7688
      }
    }

    service {
      name     = "drover-events"
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
      # then saves its cursor.
      kill_signal  = "SIGTERM"
      kill_timeout = "45s"

      config {
        image = var.image
        args  = ["run", "--config", "/local/drover.hcl"]
        ports = ["admin"]
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

      # The token, from the job's own Nomad variable (readable by the job's
      # workload identity without further policy).
      template {
        destination = "${NOMAD_SECRETS_DIR}/nomad.env"
        env         = true
        change_mode = "restart"
        data        = <<-EOT
          NOMAD_TOKEN={{ with nomadVar "nomad/jobs/drover-events" }}{{ .nomad_token }}{{ end }}
        EOT
      }

      template {
        destination   = "local/drover.hcl"
        change_mode   = "signal"
        change_signal = "SIGHUP"
        data          = <<-EOT
          data_dir         = "/alloc/data/drover"
          shutdown_timeout = "30s"
          admin { address = "0.0.0.0:7688" }
          log { format = "json" }

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
