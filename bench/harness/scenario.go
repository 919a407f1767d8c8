package harness

import (
	"fmt"
	"strings"
	"time"
)

// Sizes.
const (
	MiB = 1 << 20
	GiB = 1 << 30
)

// Scenario is one benchmark: how logs are written and where drover ships
// them.
type Scenario struct {
	// Name identifies the scenario on the command line and in the table.
	Name string
	// Streams is the number of task streams written (see gen.Layout).
	Streams int
	// Sink is "http" (NDJSON) or "loki" (snappy protobuf).
	Sink string
	// Aggregators, when positive, makes a kafka scenario: the Backlog is
	// written to a kfake topic of Partitions partitions as node agents'
	// records, and that many drover aggregators read it into the sink.
	Aggregators int
	Partitions  int32
	// Backlog, when positive, is the number of bytes written before drover
	// starts; drover reads them from the beginning.
	Backlog int64
	// Rate, when positive, is the bytes per second written while drover
	// runs, for Duration. Latency is measured for these lines.
	Rate     float64
	Duration time.Duration
	// Idle is how long drover is watched after everything arrived, with
	// nothing written: its CPU and memory at rest.
	Idle time.Duration
	// MaxFileSize and MaxFiles are logmon's logs { max_file_size,
	// max_files } (0 files: none deleted).
	MaxFileSize int64
	MaxFiles    int
	// Transforms puts a parse (JSON), a filter and a route between the
	// source and the sink. The parse makes a JSON line's fields the
	// event's and its msg the message, as a user shipping parsed lines
	// would; with KeepOriginal the message stays the whole line and the
	// fields are added to it (the bodies sent are about twice as big).
	Transforms   bool
	KeepOriginal bool
	// Kubernetes writes the streams as containers of a Kubernetes node
	// (the kubelet's layout, CRI lines, its rotation) and ships them with
	// a kubernetes_logs source; otherwise Nomad task streams and
	// nomad_logs.
	Kubernetes bool
	// MaxOpenFiles, when positive, is the source's max_open_files: with
	// more streams than that, idle files are parked.
	MaxOpenFiles int
	// Buffer, when set, is the sink's buffer type ("disk"), with its
	// defaults (fsync_interval included).
	Buffer string
	// NewAllocs, when positive, makes a new-allocation scenario: the last
	// NewAllocs allocations of the layout are not on the node when drover
	// starts (the others are, quiet); while drover runs, one starts every
	// NewAllocEvery: it is added to the Nomad API, its log directory and
	// files are created, and its task writes one line to each stream. The
	// latency is from that write to the line's arrival.
	NewAllocs     int
	NewAllocEvery time.Duration
}

// Describe says what the scenario does, in a few words.
func (s Scenario) Describe() string {
	var b strings.Builder
	if s.Aggregators > 0 {
		fmt.Fprintf(&b, "%s of lines from %d streams in a %d-partition kfake topic, read by %d aggregator(s), %s sink",
			size(s.Backlog), s.Streams, s.Partitions, s.Aggregators, s.Sink)
		return b.String()
	}
	if s.Kubernetes {
		b.WriteString("Kubernetes containers (CRI lines): ")
	}
	switch {
	case s.NewAllocs > 0:
		fmt.Fprintf(&b, "%d allocations of %d streams start, one every %s, each writing one line per stream; the other %d streams quiet",
			s.NewAllocs, s.Streams, s.NewAllocEvery, s.Streams-2*s.NewAllocs)
	case s.Backlog > 0:
		fmt.Fprintf(&b, "%s on disk in %d streams, read from the beginning", size(s.Backlog), s.Streams)
	default:
		fmt.Fprintf(&b, "%s/s across %d streams for %s", size(int64(s.Rate)), s.Streams, s.Duration)
	}
	fmt.Fprintf(&b, ", files of %s", size(s.MaxFileSize))
	if s.MaxFiles > 0 {
		fmt.Fprintf(&b, " (%d kept)", s.MaxFiles)
	}
	if s.Idle > 0 {
		fmt.Fprintf(&b, ", then %s idle", s.Idle)
	}
	if s.Transforms {
		b.WriteString(", parse json + filter + route")
		if s.KeepOriginal {
			b.WriteString(" (original line kept)")
		}
	}
	if s.MaxOpenFiles > 0 {
		fmt.Fprintf(&b, ", max_open_files %d", s.MaxOpenFiles)
	}
	if s.Buffer != "" {
		fmt.Fprintf(&b, ", %s buffer", s.Buffer)
	}
	return b.String() + ", " + s.Sink + " sink"
}

func size(n int64) string {
	switch {
	case n >= GiB && n%GiB == 0:
		return fmt.Sprintf("%d GiB", n/GiB)
	case n >= MiB:
		return fmt.Sprintf("%.4g MiB", float64(n)/MiB)
	}
	return fmt.Sprintf("%.4g KiB", float64(n)/1024)
}

// Settings size the default scenarios.
type Settings struct {
	// Backlog is the size of the backlog scenarios (1 GiB by default).
	Backlog int64
	// Duration is how long the fixed-rate scenarios write.
	Duration time.Duration
	// Idle is how long the many-files scenario stays idle at the end.
	Idle time.Duration
	// KafkaBacklog is the size of the kafka scenarios' topic (256 MiB by
	// default: kfake holds it in the harness's memory).
	KafkaBacklog int64
}

// Scenarios returns the standard scenarios, in the order they run.
func Scenarios(s Settings) []Scenario {
	const nomadFile = 10 * MiB // logmon's default max_file_size
	return []Scenario{
		{Name: "backlog-1", Streams: 1, Sink: "http", Backlog: s.Backlog, MaxFileSize: nomadFile},
		// The same JSON lines through parse, filter and route: compare its
		// CPU per GiB with backlog-1's. The first ships the parsed fields
		// with msg as the message; the second keeps the whole line as the
		// message besides its fields.
		{Name: "backlog-1-transforms", Streams: 1, Sink: "http", Backlog: s.Backlog, MaxFileSize: nomadFile, Transforms: true},
		{Name: "backlog-1-transforms-keep", Streams: 1, Sink: "http", Backlog: s.Backlog, MaxFileSize: nomadFile, Transforms: true, KeepOriginal: true},
		// The same through a disk buffer with its default fsync policy:
		// compare its MiB/s and CPU s/GiB with backlog-1's.
		{Name: "backlog-1-disk", Streams: 1, Sink: "http", Backlog: s.Backlog, MaxFileSize: nomadFile, Buffer: "disk"},
		{Name: "backlog-100", Streams: 100, Sink: "http", Backlog: s.Backlog, MaxFileSize: nomadFile},
		{Name: "backlog-1000", Streams: 1000, Sink: "http", Backlog: s.Backlog, MaxFileSize: nomadFile},
		{Name: "backlog-100-loki", Streams: 100, Sink: "loki", Backlog: s.Backlog, MaxFileSize: nomadFile},
		{Name: "steady-100", Streams: 100, Sink: "http", Rate: 10 * MiB, Duration: s.Duration, MaxFileSize: nomadFile, MaxFiles: 10},
		{Name: "steady-100-loki", Streams: 100, Sink: "loki", Rate: 10 * MiB, Duration: s.Duration, MaxFileSize: nomadFile, MaxFiles: 10},
		// About one line per second per stream.
		{Name: "many-files-1000", Streams: 1000, Sink: "http", Rate: 300 * 1000, Duration: s.Duration, Idle: s.Idle, MaxFileSize: nomadFile, MaxFiles: 10},
		// 10,000 streams, at most 1000 files open: most are parked, and
		// reopened when written (one line per 10 s per stream).
		{Name: "many-files-10000", Streams: 10000, Sink: "http", Rate: 300 * 1000, Duration: s.Duration, Idle: s.Idle, MaxFileSize: nomadFile, MaxFiles: 10, MaxOpenFiles: 1000},
		// New allocations on a node of 800 quiet streams: how long from
		// a new allocation's first line to its delivery.
		{Name: "new-alloc-100", Streams: 1000, Sink: "http", MaxFileSize: nomadFile, MaxFiles: 10, NewAllocs: 100, NewAllocEvery: 200 * time.Millisecond},
		{Name: "rotation-100", Streams: 100, Sink: "http", Rate: 10 * MiB, Duration: s.Duration, MaxFileSize: MiB, MaxFiles: 3},
		// Kubernetes: the same backlog as backlog-100 written as CRI
		// records by containerd (compare their CPU per GiB: decoding the
		// runtime's format should cost at most 1.3x), and 1000 containers
		// writing about one line per second each.
		{Name: "kube-backlog-100", Streams: 100, Sink: "http", Backlog: s.Backlog, MaxFileSize: nomadFile, Kubernetes: true},
		{Name: "kube-containers-1000", Streams: 1000, Sink: "http", Rate: 300 * 1000, Duration: s.Duration, Idle: s.Idle, MaxFileSize: nomadFile, MaxFiles: 5, Kubernetes: true},
		// The aggregator tier: node agents' records in Kafka, drover
		// aggregators in one consumer group into the http sink.
		{Name: "kafka-1", Streams: 100, Sink: "http", Backlog: s.KafkaBacklog, Aggregators: 1, Partitions: 4},
		{Name: "kafka-2", Streams: 100, Sink: "http", Backlog: s.KafkaBacklog, Aggregators: 2, Partitions: 4},
	}
}

// Select returns the scenarios named (all when names is empty), or an
// error naming an unknown one.
func Select(all []Scenario, names []string) ([]Scenario, error) {
	if len(names) == 0 {
		return all, nil
	}
	var out []Scenario
	for _, n := range names {
		found := false
		for _, s := range all {
			if s.Name == n {
				out = append(out, s)
				found = true
			}
		}
		if !found {
			var known []string
			for _, s := range all {
				known = append(known, s.Name)
			}
			return nil, fmt.Errorf("unknown scenario %q (known: %s)", n, strings.Join(known, ", "))
		}
	}
	return out, nil
}
