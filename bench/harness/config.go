package harness

import (
	"fmt"
	"strings"
)

// droverConfig is the configuration drover runs with: a nomad_logs source
// with its defaults, asking the fake Nomad API, and one sink with its
// defaults, pointed at the receiver. With transforms, the lines pass a
// parse (JSON), a filter and a route on their way (transformPipeline).
//
// Scenario fields change the defaults: MaxOpenFiles sets the source's
// max_open_files, Buffer the sink's buffer type. source, when not empty,
// replaces the nomad_logs source block (a source named "tasks": the
// Kubernetes scenarios' kubernetes_logs).
func droverConfig(dataDir, nomadAddr, source, recvURL string, s Scenario, pprof bool) (string, error) {
	sink, transforms := s.Sink, s.Transforms
	var b strings.Builder
	maxOpen := ""
	if s.MaxOpenFiles > 0 {
		maxOpen = fmt.Sprintf("  max_open_files = %d\n", s.MaxOpenFiles)
	}
	fmt.Fprintf(&b, `data_dir = %q

admin {
  address = "127.0.0.1:0"
  pprof   = %t
}
`, dataDir, pprof)
	if source == "" {
		source = fmt.Sprintf(`
source "nomad_logs" "tasks" {
%s  nomad {
    address = %q
  }
}
`, maxOpen, nomadAddr)
	}
	b.WriteString(source)
	buffer := ""
	if s.Buffer != "" {
		buffer = fmt.Sprintf("  buffer {\n    type = %q\n  }\n", s.Buffer)
	}
	input := `"tasks"`
	if transforms {
		parse := parseDropOriginal
		if s.KeepOriginal {
			parse = parseKeepOriginal
		}
		b.WriteString(parse + transformPipeline)
		input = `"by_level.app"`
	}
	switch sink {
	case "http":
		fmt.Fprintf(&b, `
sink "http" "out" {
  inputs = [%s]
  uri    = %q
%s}
`, input, recvURL+"/ingest", buffer)
	case "loki":
		fmt.Fprintf(&b, `
sink "loki" "out" {
  inputs   = [%s]
  endpoint = %q
  labels = {
    namespace = "{{ nomad.namespace }}"
    job       = "{{ nomad.job_name }}"
    task      = "{{ nomad.task_name }}"
    stream    = "{{ stream }}"
  }
%s}
`, input, recvURL, buffer)
	default:
		return "", fmt.Errorf("unknown sink %q (want http or loki)", sink)
	}
	return b.String(), nil
}

// The parse of the transform scenarios: every line as JSON (the
// generator's JSON streams; its plain streams' lines fail and pass as they
// are, with a parse_error field). parseDropOriginal ships the fields with
// the line's msg as the message and its ts as the event's time (the
// receiver finds the header in the fields: recvOptions);
// parseKeepOriginal keeps the whole line as the message.
const (
	parseDropOriginal = `
transform "parse" "json" {
  inputs           = ["tasks"]
  format           = "json"
  drop_original    = true
  message_field    = "msg"
  timestamp_field  = "ts"
  timestamp_format = "unix_ns"
}
`
	parseKeepOriginal = `
transform "parse" "json" {
  inputs = ["tasks"]
  format = "json"
}
`
)

// parsedMessageField is what the receiver must know of a scenario's
// parse: the line's field that became the message ("" when none did).
func parsedMessageField(s Scenario) string {
	if s.Transforms && !s.KeepOriginal {
		return "msg"
	}
	return ""
}

// transformPipeline filters on a parsed field and routes on another,
// keeping every line (the receiver checks that each arrives, in order: a
// sink that read two outputs of a route could see a stream's lines out of
// order across them).
const transformPipeline = `
transform "filter" "no_trace" {
  inputs    = ["json"]
  condition = "level != \"trace\" && !(nomad.job_name == \"noisy\" && level == \"debug\")"
}

transform "route" "by_level" {
  inputs = ["no_trace"]
  route {
    name      = "app"
    condition = "level in [\"debug\", \"info\", \"warn\", \"error\"]"
  }
}
`
