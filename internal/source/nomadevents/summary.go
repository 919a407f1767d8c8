package nomadevents

// summaryKind is the JSON type a summary member is read as.
type summaryKind uint8

const (
	summaryString summaryKind = iota
	summaryInt
	summaryBool
	// summaryTime is a Unix time in nanoseconds that becomes the event's
	// timestamp instead of a field.
	summaryTime
)

// summaryKey maps one top-level member of a payload object to a flat field.
type summaryKey struct {
	json  string
	field string
	kind  summaryKind
}

// maxSummary is the most fields any table below yields.
const maxSummary = 10

// The flat fields taken from each payload kind, for routing and labels. The
// whole event stays in the message.
var (
	allocationSummary = []summaryKey{
		{"JobID", "job_id", summaryString},
		{"TaskGroup", "task_group", summaryString},
		{"Name", "alloc_name", summaryString},
		{"NodeName", "node_name", summaryString},
		{"NodeID", "node_id", summaryString},
		{"ClientStatus", "client_status", summaryString},
		{"DesiredStatus", "desired_status", summaryString},
		{"ClientDescription", "client_description", summaryString},
		{"ModifyTime", "", summaryTime},
	}
	jobSummary = []summaryKey{
		{"ID", "job_id", summaryString},
		{"Type", "job_type", summaryString},
		{"Status", "status", summaryString},
		{"Version", "version", summaryInt},
		{"Stop", "stop", summaryBool},
	}
	deploymentSummary = []summaryKey{
		{"JobID", "job_id", summaryString},
		{"Status", "status", summaryString},
		{"StatusDescription", "status_description", summaryString},
	}
	nodeSummary = []summaryKey{
		{"Name", "node_name", summaryString},
		{"Status", "status", summaryString},
		{"Drain", "drain", summaryBool},
		{"SchedulingEligibility", "scheduling_eligibility", summaryString},
	}
	evaluationSummary = []summaryKey{
		{"JobID", "job_id", summaryString},
		{"Status", "status", summaryString},
		{"TriggeredBy", "triggered_by", summaryString},
		{"ModifyTime", "", summaryTime},
	}
)

// summaryTable returns the table of a payload member ("Allocation", "Job",
// ...), or nil for kinds without flat fields.
func summaryTable(payloadKey []byte) []summaryKey {
	switch string(payloadKey) {
	case "Allocation":
		return allocationSummary
	case "Job":
		return jobSummary
	case "Deployment":
		return deploymentSummary
	case "Node":
		return nodeSummary
	case "Evaluation":
		return evaluationSummary
	}
	return nil
}

func lookupSummary(table []summaryKey, key []byte) (summaryKey, bool) {
	for _, sk := range table {
		if sk.json == string(key) {
			return sk, true
		}
	}
	return summaryKey{}, false
}
