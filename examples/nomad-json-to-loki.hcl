# Nomad task logs -> parsed as JSON -> Loki, labelled from Nomad metadata.
#
# The seeds' Vector pipeline did this with a config generator and a remap
# that added .nomad.* and called parse_json: here the nomad_logs source adds
# the metadata and a parse transform makes the JSON fields the event's.
# Stack traces of Java tasks are joined first; debug lines of the "dev"
# namespace are dropped. Tasks choose their own treatment with meta keys:
#
#   meta { "drover.parser" = "logfmt" }   # this task logs logfmt
#   meta { "drover.multiline" = "python" } # and Python tracebacks
#   meta { "drover.exclude" = "true" }    # do not read this task at all
#
#   drover validate --config examples/nomad-json-to-loki.hcl
#   drover test examples/nomad-json-to-loki.hcl

data_dir = "/var/lib/drover"

source "nomad_logs" "tasks" {}

# Java stack traces (and, per task, whatever drover.multiline names) become
# one event each.
transform "multiline" "stacks" {
  inputs        = ["tasks"]
  preset        = "java"
  flush_timeout = "2s"
}

# Lines that are JSON objects become fields; others keep their message and
# get parse_error. The time the application wrote wins over the read time.
transform "parse" "json" {
  inputs           = ["stacks"]
  format           = "json"
  timestamp_field  = "time"
  timestamp_format = "rfc3339"
}

transform "filter" "no_dev_debug" {
  inputs    = ["json"]
  condition = "!(nomad.namespace == \"dev\" && level in [\"debug\", \"trace\"])"
}

sink "loki" "loki" {
  inputs   = ["no_dev_debug"]
  endpoint = env("LOKI_ENDPOINT", "http://loki.service.consul:3100")
  labels = {
    namespace = "{{ nomad.namespace }}"
    job       = "{{ nomad.job_name }}"
    group     = "{{ nomad.group_name }}"
    task      = "{{ nomad.task_name }}"
    stream    = "{{ stream }}"
    level     = "{{ level }}"
  }
  label_defaults = { level = "unknown" }
  structured_metadata = {
    alloc_id = "{{ nomad.alloc_id }}"
  }
}

test "JSON lines become fields and take the application's time" {
  input {
    insert_at = "json"
    message   = "{\"time\":\"2026-12-07T10:00:00.5Z\",\"level\":\"info\",\"msg\":\"served\",\"status\":200}"
    meta      = { "nomad.namespace" = "prod", "nomad.job_name" = "api" }
  }
  output {
    extract_from = "no_dev_debug"
    condition    = "level == \"info\" && status == 200 && msg == \"served\" && timestamp == date(\"2026-12-07T10:00:00.5Z\")"
    events       = 1
  }
}

test "a line that is not JSON is kept with the error" {
  input {
    insert_at = "json"
    message   = "plain text"
  }
  output {
    extract_from = "no_dev_debug"
    messages     = ["plain text"]
    condition    = "parse_error startsWith \"invalid JSON\""
  }
}

test "debug lines of dev are dropped, of prod kept" {
  input {
    insert_at = "json"
    messages  = ["{\"level\":\"debug\",\"msg\":\"a\"}", "{\"level\":\"info\",\"msg\":\"b\"}"]
    meta      = { "nomad.namespace" = "dev" }
  }
  input {
    insert_at = "json"
    message   = "{\"level\":\"debug\",\"msg\":\"c\"}"
    meta      = { "nomad.namespace" = "prod" }
  }
  output {
    extract_from = "no_dev_debug"
    condition    = "msg in [\"b\", \"c\"]"
    events       = 2
  }
}

test "a Java stack trace is one event" {
  input {
    insert_at = "stacks"
    messages = [
      "Exception in thread \"main\" java.lang.IllegalStateException: boom",
      "\tat com.example.App.run(App.java:12)",
      "\tat com.example.App.main(App.java:5)",
      "{\"level\":\"info\",\"msg\":\"restarted\"}",
    ]
  }
  output {
    extract_from = "stacks"
    messages = [
      "Exception in thread \"main\" java.lang.IllegalStateException: boom\n\tat com.example.App.run(App.java:12)\n\tat com.example.App.main(App.java:5)",
      "{\"level\":\"info\",\"msg\":\"restarted\"}",
    ]
  }
}

test "a task's drover.parser hint wins" {
  input {
    insert_at  = "json"
    message    = "level=warn msg=\"disk almost full\""
    nomad_meta = { "drover.parser" = "logfmt" }
  }
  output {
    extract_from = "no_dev_debug"
    condition    = "level == \"warn\" && msg == \"disk almost full\""
  }
}
