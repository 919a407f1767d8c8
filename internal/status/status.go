// Package status is the contract through which drover's running components
// describe themselves to the status page, /api/v1/status, `drover top` and
// `drover explain`, and the Collector that assembles one Status document
// from the running topology, the health registry and the metrics.
//
// A component with more to show than its metrics and health implements
// Describer: a file-based source lists its targets (a Nomad task stream, a
// file, a pod's container) with their state and positions, and the ones its
// selection leaves out with the rule that does; an event stream shows its
// cursor; a Kafka source its partitions. The admin endpoint never reaches
// into a component: it only reads Describe.
package status

import (
	"time"

	"github.com/drover-dev/drover/internal/health"
)

// Describer is implemented by a component that describes itself beyond its
// metrics. Describe is called from the admin endpoint's goroutines, at any
// time while the component is installed (also before Run and after Close):
// it must be safe for concurrent use, must not block on the pipeline, and
// should return within a second. It returns a copy the caller may keep.
type Describer interface {
	Describe() Description
}

// Description is what a component says about itself.
type Description struct {
	// Targets are what the component reads, with their state; nil for a
	// component without targets.
	Targets []Target `json:"targets,omitempty"`
	// Detail is component-specific state, encodable as JSON: an event
	// stream's cursor, a Kafka source's partitions.
	Detail any `json:"detail,omitempty"`
}

// Kinds of targets.
const (
	// TargetNomadStream is one stream (stdout or stderr) of one task of
	// one Nomad allocation. Labels: alloc_id, namespace, job, group, task,
	// stream.
	TargetNomadStream = "nomad_task_stream"
	// TargetFile is one file that a file source's globs match. Labels: file.
	TargetFile = "file"
	// TargetPod is one container of one Kubernetes pod. Labels: namespace,
	// pod, pod_uid, container.
	TargetPod = "pod_container"
	// TargetJournal is the systemd journal a journald source reads.
	TargetJournal = "journal"
)

// States of a target.
const (
	// StateFollowing: the target's files are open and read as they grow.
	StateFollowing = "following"
	// StateParked: the target is idle and its file was closed to keep
	// max_open_files; it is checked at every poll and reopened when it
	// changes.
	StateParked = "parked"
	// StateDraining: no more writes are expected (the allocation ended or
	// left the node); what is left is read to the end, then the target is
	// released.
	StateDraining = "draining"
	// StateWaitingRoom: the target's newest file waits for room under
	// max_open_files.
	StateWaitingRoom = "waiting_for_room"
	// StateWaitingMetadata: the files are held open but not read until
	// the orchestrator's API describes the target.
	StateWaitingMetadata = "waiting_for_metadata"
	// StateWaitingFile: no file of the target exists yet.
	StateWaitingFile = "waiting_for_file"
	// StateReleased: the target was read to its end and released (its
	// allocation or pod ended, its file disappeared) or is no longer
	// selected; its files are closed and its position is kept. Shipped
	// once its last lines are acknowledged.
	StateReleased = "released"
	// StateExcluded: the source's selection leaves the target out; Reason
	// names the rule or hint.
	StateExcluded = "excluded"
	// StateFailing: the target cannot be read; Reason holds the error.
	StateFailing = "failing"
)

// Target is one thing a source reads.
type Target struct {
	// Component is the id of the source that owns it (set by the
	// Collector).
	Component string `json:"component"`
	// Kind is one of the Target* constants.
	Kind string `json:"kind"`
	// Key identifies the target in the source (its checkpoint key).
	Key string `json:"key"`
	// Labels describe it: alloc_id, job, task, stream for Nomad, file for
	// a file, pod and container for Kubernetes.
	Labels map[string]string `json:"labels,omitempty"`
	// Path is the file read now, if any.
	Path string `json:"path,omitempty"`
	// State is one of the State* constants; Reason says why a target is
	// excluded or failing.
	State  string `json:"state"`
	Reason string `json:"reason,omitempty"`
	// Files is the number of the target's files held open.
	Files int `json:"files,omitempty"`
	// ReadOffset is the offset read up to in Path; Acknowledged the offset
	// in the target's oldest unfinished file up to which every sink has
	// the lines.
	ReadOffset   int64 `json:"read_offset"`
	Acknowledged int64 `json:"acknowledged"`
	// BytesBehind are the bytes of the open files not read yet.
	BytesBehind int64 `json:"bytes_behind"`
	// Unacknowledged says that lines were read that not every sink has
	// acknowledged yet.
	Unacknowledged bool `json:"unacknowledged"`
	// LastRead is when the target last yielded data (zero: not since it
	// was followed). LastAcknowledged is when its acknowledged position
	// last moved: every sink acknowledged a line of it (zero: not since
	// it was followed in this run of drover); a follower's target gives
	// it to within its scan interval.
	LastRead         time.Time `json:"last_read,omitzero"`
	LastAcknowledged time.Time `json:"last_acknowledged,omitzero"`
}

// Shipped reports whether everything the target's files held was read and
// acknowledged by every sink: nothing behind, nothing in flight, and not
// excluded.
func (t Target) Shipped() bool {
	return t.State != StateExcluded && t.State != StateFailing && t.State != StateWaitingMetadata &&
		t.State != StateWaitingRoom && t.BytesBehind == 0 && !t.Unacknowledged
}

// Status is the document /api/v1/status serves.
type Status struct {
	// Time is when it was taken.
	Time    time.Time `json:"time"`
	Version string    `json:"version"`
	Host    string    `json:"host"`
	// Started is when this drover started.
	Started time.Time `json:"started"`
	// Health is the overall health (what /api/v1/health serves, without
	// the components, which are below).
	Health Health `json:"health"`
	// Components are the running components: sources, transforms, sinks,
	// in the order of the configuration's kinds and ids.
	Components []Component `json:"components"`
	// Targets are every source's targets, by component and key.
	Targets []Target `json:"targets"`
	// Reloads are the last configuration loads, newest first.
	Reloads []Reload `json:"reloads"`
}

// Health is drover's overall health.
type Health struct {
	Status  string          `json:"status"`
	Ready   bool            `json:"ready"`
	Phase   health.Phase    `json:"phase"`
	Reasons []health.Reason `json:"reasons"`
}

// Component is one running component with its figures.
type Component struct {
	Kind string `json:"kind"`
	Type string `json:"type"`
	ID   string `json:"id"`
	// Inputs are the outputs it reads ("<id>" or "<id>.<name>"); Outputs
	// its named outputs.
	Inputs  []string `json:"inputs"`
	Outputs []string `json:"outputs,omitempty"`
	// State and Conditions are its health.
	State      health.State       `json:"state"`
	Conditions []health.Condition `json:"conditions"`
	// Counters since drover started, and rates over the last interval the
	// Collector measured (events per second).
	EventsIn    float64 `json:"events_in"`
	EventsOut   float64 `json:"events_out"`
	BytesIn     float64 `json:"bytes_in"`
	BytesOut    float64 `json:"bytes_out"`
	RateIn      float64 `json:"rate_in"`
	RateOut     float64 `json:"rate_out"`
	Errors      float64 `json:"errors"`
	Discarded   float64 `json:"discarded"`
	BytesBehind float64 `json:"bytes_behind"`
	FilesOpen   float64 `json:"files_open,omitempty"`
	// Unacknowledged is a source's batches not yet acknowledged.
	Unacknowledged float64 `json:"unacknowledged_batches,omitempty"`
	// Targets is the number of the component's targets.
	Targets int `json:"targets"`
	// Sink is set for sinks.
	Sink *Sink `json:"sink,omitempty"`
	// Detail is what the component's Describe said beyond its targets.
	Detail any `json:"detail,omitempty"`
}

// Sink is a sink's delivery.
type Sink struct {
	// Queue and QueueBytes are the events in its input buffer or in
	// flight; OldestAge the age of the oldest unacknowledged record of a
	// disk buffer, in seconds.
	Queue      float64 `json:"queue_events"`
	QueueBytes float64 `json:"queue_bytes"`
	// InFlight is the number of requests sent without a verdict yet.
	InFlight  float64 `json:"requests_in_flight"`
	OldestAge float64 `json:"oldest_age_seconds,omitempty"`
	// Retries are requests sent again; Failures the failed attempts.
	Retries  float64 `json:"retries"`
	Failures float64 `json:"failures"`
	// Retrying is set while a run of failures lasts: Since when, with
	// the reason and the last error.
	Retrying  bool      `json:"retrying"`
	Since     time.Time `json:"retrying_since,omitzero"`
	Reason    string    `json:"reason,omitempty"`
	LastError string    `json:"last_error,omitempty"`
	// LastDelivery is the time of the last request the destination took.
	LastDelivery time.Time `json:"last_delivery,omitzero"`
}

// Reload is one configuration load.
type Reload struct {
	Time time.Time `json:"time"`
	// OK is false when the configuration was refused; Error says why.
	OK      bool     `json:"ok"`
	Error   string   `json:"error,omitempty"`
	Added   []string `json:"added,omitempty"`
	Changed []string `json:"changed,omitempty"`
	Removed []string `json:"removed,omitempty"`
}
