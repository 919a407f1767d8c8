package nomadevents

import (
	"fmt"
	"sort"
	"strings"
)

// requiredCapabilities says what an ACL token needs to subscribe to topics
// in namespace, as Nomad checks it (nomad/stream/event_broker.go,
// aclAllowsSubscription): namespace read-job for Allocation, Deployment,
// Evaluation, Job and Service; node read for Node; a management token for
// "*", NodePool and every other topic.
func requiredCapabilities(topics []topicFilter, namespace string) string {
	var readJob, nodeRead, management []string
	seen := map[string]bool{}
	for _, t := range topics {
		if seen[t.Topic] {
			continue
		}
		seen[t.Topic] = true
		switch t.Topic {
		case "Allocation", "Deployment", "Evaluation", "Job", "Service":
			readJob = append(readJob, t.Topic)
		case "Node":
			nodeRead = append(nodeRead, t.Topic)
		default:
			management = append(management, t.Topic)
		}
	}
	var parts []string
	if len(readJob) > 0 {
		sort.Strings(readJob)
		parts = append(parts, fmt.Sprintf("namespace %q capability read-job (topics %s)", namespace, strings.Join(readJob, ", ")))
	}
	if len(nodeRead) > 0 {
		parts = append(parts, "node:read (topic Node)")
	}
	if len(management) > 0 {
		sort.Strings(management)
		parts = append(parts, fmt.Sprintf("a management token (topics %s)", strings.Join(management, ", ")))
	}
	return strings.Join(parts, "; ")
}
