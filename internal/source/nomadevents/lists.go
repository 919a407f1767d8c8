package nomadevents

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/hashicorp/nomad/api"
)

// stateList is a Nomad list endpoint that holds the current objects of one
// topic. Its X-Nomad-Index is the highest Raft index that wrote the table.
type stateList struct {
	topic string
	path  string
	// snapshot is true for the lists whose objects a resync emits.
	// Evaluations are scheduler work items, not state: they are only used
	// to find the current index.
	snapshot bool
}

var stateLists = []stateList{
	{"Allocation", "/v1/allocations", true},
	{"Job", "/v1/jobs", true},
	{"Node", "/v1/nodes", true},
	{"Deployment", "/v1/deployments", true},
	{"Evaluation", "/v1/evaluations", false},
}

// listsFor returns the lists of the subscribed topics ("*" takes them all).
func listsFor(topics []topicFilter) []stateList {
	var out []stateList
	for _, l := range stateLists {
		for _, t := range topics {
			if t.Topic == "*" || t.Topic == l.topic {
				out = append(out, l)
				break
			}
		}
	}
	return out
}

// fetchList reads one list in namespace and returns its raw items and index.
// perPage > 0 asks for a page of that size (lists that do not paginate
// return everything).
func fetchList(ctx context.Context, client *api.Client, l stateList, namespace string, perPage int32) ([]json.RawMessage, uint64, error) {
	var items []json.RawMessage
	q := (&api.QueryOptions{Namespace: namespace, PerPage: perPage}).WithContext(ctx)
	meta, err := client.Raw().Query(l.path, &items, q)
	if err != nil {
		var ure api.UnexpectedResponseError
		if errors.As(err, &ure) && ure.HasStatusCode() {
			err = &StatusError{Code: ure.StatusCode(), Body: ure.Body()}
		}
		return nil, 0, fmt.Errorf("reading %s: %w", l.path, err)
	}
	return items, meta.LastIndex, nil
}

// currentIndex returns the highest index of the lists of the subscribed
// topics: every event already published has an index at or below it. Lists
// the token may not read are left out as long as one answers.
func currentIndex(ctx context.Context, client *api.Client, topics []topicFilter, namespace string) (uint64, error) {
	var (
		best uint64
		ok   bool
		errs []error
	)
	for _, l := range listsFor(topics) {
		_, idx, err := fetchList(ctx, client, l, namespace, 1)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		best, ok = max(best, idx), true
	}
	if !ok {
		if len(errs) == 0 {
			return 0, errors.New(`start_at = "now" needs one of the topics Allocation, Job, Node, Deployment or Evaluation to find the current index`)
		}
		return 0, fmt.Errorf("finding the current index for start_at = \"now\": %w", errors.Join(errs...))
	}
	return best, nil
}

// stubKeys are the members of a listed object that name it.
type stubKeys struct {
	ID           string
	Namespace    string
	JobID        string
	DeploymentID string
}

// snapshotFrame renders the objects of one list as a frame line of
// synthetic events, shaped like the stream's events:
//
//	{"Events":[{"Topic":"Allocation","Type":"Snapshot","Key":"<ID>","Namespace":"<ns>",
//	  "FilterKeys":[...],"Index":<list index>,"Payload":{"Allocation":<object>}},...],"Index":<list index>}
//
// Objects that the subscription's filter keys exclude are left out, as
// Nomad would leave out their events. It returns nil when nothing is left.
func snapshotFrame(l stateList, items []json.RawMessage, index uint64, topics []topicFilter) ([]byte, error) {
	var line []byte
	n := 0
	for i, raw := range items {
		var k stubKeys
		if err := json.Unmarshal(raw, &k); err != nil {
			return nil, fmt.Errorf("decoding item %d of %s: %w", i, l.path, err)
		}
		var filterKeys []string
		switch l.topic {
		case "Allocation":
			filterKeys = []string{k.JobID, k.DeploymentID}
		case "Deployment":
			filterKeys = []string{k.JobID}
		}
		if !subscribed(topics, l.topic, k.ID, filterKeys) {
			continue
		}
		if n == 0 {
			line = append(line, `{"Events":[`...)
		} else {
			line = append(line, ',')
		}
		n++
		line = append(line, `{"Topic":`...)
		line = appendJSON(line, l.topic)
		line = append(line, `,"Type":"Snapshot","Key":`...)
		line = appendJSON(line, k.ID)
		line = append(line, `,"Namespace":`...)
		line = appendJSON(line, k.Namespace)
		line = append(line, `,"FilterKeys":`...)
		line = appendJSON(line, filterKeys)
		line = append(line, `,"Index":`...)
		line = strconv.AppendUint(line, index, 10)
		line = append(line, `,"Payload":{`...)
		line = appendJSON(line, l.topic)
		line = append(line, ':')
		line = append(line, raw...)
		line = append(line, `}}`...)
	}
	if n == 0 {
		return nil, nil
	}
	line = append(line, `],"Index":`...)
	line = strconv.AppendUint(line, index, 10)
	return append(line, '}'), nil
}

func appendJSON(dst []byte, v any) []byte {
	b, _ := json.Marshal(v) // strings and string slices always marshal
	return append(dst, b...)
}

// subscribed applies Nomad's topic filter (nomad/stream/subscription.go):
// an event matches a topic's filter key when the key equals its Key or one
// of its FilterKeys; "*" matches everything.
func subscribed(topics []topicFilter, topic, key string, filterKeys []string) bool {
	for _, t := range topics {
		if t.Topic != "*" && t.Topic != topic {
			continue
		}
		if t.Key == "*" || t.Key == key {
			return true
		}
		for _, fk := range filterKeys {
			if fk == t.Key {
				return true
			}
		}
	}
	return false
}
