# journald + Nomad's own log files -> Loki, from a system job.
#
# The logs of the node's agents (nomad, consul, docker), the kernel and sshd
# come from the systemd journal; Nomad's own log file (agent log_file) is
# tailed as well. Everything goes to Loki, labelled by host and unit.
#
# Run drover on every client with deploy/nomad/drover.nomad.hcl (a system
# job with the raw_exec driver: drover runs on the host, where journalctl and
# the journal are) and put this into its configuration template, or merge
# it with the nomad_logs source that job ships the task logs with. drover
# must be able to read the journal: run it as root, or as a user in the
# systemd-journal group.
#
#   drover validate --config examples/journald-nomad-to-loki.hcl

data_dir         = "/var/lib/drover"
shutdown_timeout = "30s"
admin { address = "0.0.0.0:7688" }

# The node's agents and the kernel, from the system journal.
source "journald" "host" {
  units           = ["nomad", "consul", "docker", "containerd", "sshd"]
  include_matches = { _TRANSPORT = ["kernel"] }
  # Debug chatter stays on the node.
  exclude_matches = { PRIORITY = ["7"] }
  # A node that joins ships from the next boot on, not years of history.
  current_boot_only = true
}

# Nomad's own log file (log_file = "/var/log/nomad/" in the agent's
# configuration), with its rotated copies.
source "file" "nomad_agent" {
  include = ["/var/log/nomad/nomad*.log"]
}

sink "loki" "loki" {
  inputs   = ["host", "nomad_agent"]
  endpoint = env("LOKI_ENDPOINT", "http://loki.service.consul:3100")
  encoding = "text"

  labels = {
    host        = "{{ host }}"
    source_type = "{{ source_type }}"
    unit        = "{{ journald._systemd_unit }}"
    transport   = "{{ journald._transport }}"
  }
  # Kernel entries have no unit; file lines no journal fields (labels that
  # render empty and have no default are left out).
  label_defaults = { unit = "none" }
  structured_metadata = {
    priority = "{{ journald.priority }}"
    pid      = "{{ journald._pid }}"
    file     = "{{ file }}"
  }

  # The journal and the log files are the buffer while Loki is away; a disk
  # buffer keeps what was read across an outage longer than that.
  buffer {
    type     = "disk"
    max_size = "2GiB"
  }
}
