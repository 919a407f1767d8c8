# journald -> CloudWatch Logs, one stream per host.
#
# Every entry of the node's journal goes to the log group /nodes/journal, in
# a stream named after the host, as a JSON object (message, timestamp and the
# journal fields under "journald", for CloudWatch Logs Insights). The group
# and the streams are created on demand.
#
# Credentials come from the standard AWS chain: the instance profile of an
# EC2 node, AWS_* variables, or the shared credentials file. The policy needs
# logs:PutLogEvents, logs:CreateLogStream, logs:CreateLogGroup and
# logs:DescribeLogGroups (the healthcheck) on the group.
#
#   drover validate --config examples/journald-to-cloudwatch.hcl

data_dir = "/var/lib/drover"
admin { address = "127.0.0.1:7688" }

source "journald" "journal" {
  # A fresh node starts with what is logged from now on; a restarted drover
  # resumes after the last entry CloudWatch acknowledged.
  since_now = true
}

sink "cloudwatch_logs" "aws" {
  inputs      = ["journal"]
  region      = env("AWS_REGION", "eu-west-1")
  group_name  = "/nodes/journal"
  stream_name = "{{ host }}"

  # Batches as large as the service takes: 10,000 events or 1 MiB.
  batch {
    timeout = "5s"
  }
}
