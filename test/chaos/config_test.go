package chaos

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// variant is one drover configuration. The fault driver picks a new one at
// every start and reload, so that the suite runs across the options that
// change how lines travel: the disk buffer on and off, batch and request
// shapes, checkpoint pace, the open-file budget, fsnotify on and off,
// and discovery with or without the agent.
type variant struct {
	disk          bool
	fsyncInterval string
	memoryEvents  int
	encoding      string // "ndjson" or "json"
	gzip          bool
	batchEvents   int
	batchTimeout  string
	concurrency   int
	checkpoint    string
	scanInterval  string
	fsnotify      bool
	explicitNode  bool // node_id and alloc_dir set: files are found while the agent is down
	maxOpenFiles  int  // 0: the default
}

// pickVariant draws a configuration. disk forces the disk buffer (the
// last process must drain what earlier disk-buffered processes left).
func pickVariant(rng *rand.Rand, disk bool) variant {
	oneOf := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	v := variant{
		disk:          disk || rng.IntN(2) == 0,
		fsyncInterval: oneOf("0s", "100ms", "500ms"),
		memoryEvents:  []int{100, 1000, 5000}[rng.IntN(3)],
		encoding:      oneOf("ndjson", "json"),
		gzip:          rng.IntN(2) == 0,
		batchEvents:   []int{20, 200, 1000}[rng.IntN(3)],
		batchTimeout:  oneOf("20ms", "100ms", "500ms"),
		concurrency:   1 + rng.IntN(4),
		checkpoint:    oneOf("50ms", "250ms", "1s", "3s"),
		scanInterval:  oneOf("100ms", "500ms", "2s"),
		fsnotify:      rng.IntN(5) != 0,
		explicitNode:  rng.IntN(2) == 0,
	}
	if budgetOption && rng.IntN(3) == 0 {
		v.maxOpenFiles = []int{4, 16, 64}[rng.IntN(3)]
	}
	return v
}

// String is a short description for logs.
func (v variant) String() string {
	buf := fmt.Sprintf("memory(%d)", v.memoryEvents)
	if v.disk {
		buf = "disk(fsync " + v.fsyncInterval + ")"
	}
	return fmt.Sprintf("buffer=%s %s gzip=%v batch=%d/%s conc=%d checkpoint=%s scan=%s fsnotify=%v explicit_node=%v max_open_files=%d",
		buf, v.encoding, v.gzip, v.batchEvents, v.batchTimeout, v.concurrency, v.checkpoint, v.scanInterval, v.fsnotify, v.explicitNode, v.maxOpenFiles)
}

// budgetOption says whether the nomad_logs source has max_open_files.
const budgetOption = true

// env is what every configuration points at.
type env struct {
	dataDir   string
	allocDir  string
	nomadAddr string
	nodeID    string
	sinkURL   string
	logLevel  string
}

// render writes the configuration text.
func (v variant) render(e env) string {
	var b strings.Builder
	fmt.Fprintf(&b, `
data_dir         = %q
shutdown_timeout = "10s"
admin { address = "127.0.0.1:0" }
log { level = %q }

source "nomad_logs" "tasks" {
  nomad { address = %q }
  blocking_wait         = "2s"
  resync_interval       = "10s"
  retry_initial_backoff = "50ms"
  retry_max_backoff     = "1s"
  scan_interval         = %q
  use_fsnotify          = %v
  unknown_alloc_wait    = "10m"
  terminal_idle         = "500ms"
  partial_line_timeout  = "1m"
  checkpoint_interval   = %q
  max_line_bytes        = %d
`, e.dataDir, e.logLevel, e.nomadAddr, v.scanInterval, v.fsnotify, v.checkpoint, maxLineBytes)
	if v.explicitNode {
		fmt.Fprintf(&b, "  node_id   = %q\n  alloc_dir = %q\n", e.nodeID, e.allocDir)
	}
	if v.maxOpenFiles > 0 {
		fmt.Fprintf(&b, "  max_open_files = %d\n", v.maxOpenFiles)
	}
	compression := "none"
	if v.gzip {
		compression = "gzip"
	}
	blocks, input := pipelineBlocks()
	fmt.Fprintf(&b, "}\n%s", blocks)
	fmt.Fprintf(&b, `
sink "http" "out" {
  inputs      = [%q]
  uri         = %q
  encoding    = %q
  compression = %q
  healthcheck { enabled = false }
  batch {
    max_events = %d
    timeout    = %q
  }
  request {
    concurrency           = %d
    timeout               = "2s"
    retry_initial_backoff = "20ms"
    retry_max_backoff     = "500ms"
  }
`, input, e.sinkURL, v.encoding, compression, v.batchEvents, v.batchTimeout, v.concurrency)
	if v.disk {
		fmt.Fprintf(&b, "  buffer {\n    type           = \"disk\"\n    max_size       = \"512MiB\"\n    fsync_interval = %q\n  }\n", v.fsyncInterval)
	} else {
		fmt.Fprintf(&b, "  buffer { max_events = %d }\n", v.memoryEvents)
	}
	b.WriteString("}\n")
	return b.String()
}
