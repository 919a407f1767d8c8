package harness

import (
	"fmt"
	"strings"
)

// droverConfig is the configuration drover runs with: a nomad_logs source
// with its defaults, asking the fake Nomad API, and one sink with its
// defaults, pointed at the receiver.
func droverConfig(dataDir, nomadAddr, recvURL, sink string, pprof bool) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, `data_dir = %q

admin {
  address = "127.0.0.1:0"
  pprof   = %t
}

source "nomad_logs" "tasks" {
  nomad {
    address = %q
  }
}
`, dataDir, pprof, nomadAddr)
	switch sink {
	case "http":
		fmt.Fprintf(&b, `
sink "http" "out" {
  inputs = ["tasks"]
  uri    = %q
}
`, recvURL+"/ingest")
	case "loki":
		fmt.Fprintf(&b, `
sink "loki" "out" {
  inputs   = ["tasks"]
  endpoint = %q
  labels = {
    namespace = "{{ nomad.namespace }}"
    job       = "{{ nomad.job_name }}"
    task      = "{{ nomad.task_name }}"
    stream    = "{{ stream }}"
  }
}
`, recvURL)
	default:
		return "", fmt.Errorf("unknown sink %q (want http or loki)", sink)
	}
	return b.String(), nil
}
