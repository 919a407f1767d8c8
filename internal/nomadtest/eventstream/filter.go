package eventstream

import (
	"fmt"
	"net/url"
	"strings"
)

// subscription is what a stream request asks for, parsed the way Nomad's
// HTTP agent does (command/agent/event_endpoint.go).
type subscription struct {
	topics    map[string][]string
	namespace string
}

// parseSubscription reads topic= and namespace= parameters. Without topics
// every topic is subscribed; without a namespace only "default" (and
// namespace-less events such as Node).
func parseSubscription(q url.Values) (subscription, error) {
	sub := subscription{topics: map[string][]string{}, namespace: q.Get("namespace")}
	if sub.namespace == "" {
		sub.namespace = "default"
	}
	raw, ok := q["topic"]
	if !ok {
		sub.topics["*"] = []string{"*"}
		return sub, nil
	}
	for _, t := range raw {
		parts := strings.Split(t, ":")
		switch len(parts) {
		case 1:
			sub.topics[t] = append(sub.topics[t], "*")
		case 2:
			sub.topics[parts[0]] = append(sub.topics[parts[0]], parts[1])
		default:
			return subscription{}, fmt.Errorf("Invalid key value pair for topic, topic: %s", t)
		}
	}
	return sub, nil
}

// filter returns the events of an item that the subscription receives, as
// nomad/stream/subscription.go (v1.6.5) does. That code appends an event
// once per matching filter key, so an event that matches two keys of its
// topic is delivered twice in the same frame; this is kept.
func (sub subscription) filter(events []Event) []Event {
	all := sub.topics["*"]
	if sub.namespace == "*" && len(all) == 1 && all[0] == "*" {
		return events
	}
	var out []Event
	for _, e := range events {
		if sub.namespace != "*" && e.Namespace != "" && e.Namespace != sub.namespace {
			continue
		}
		if len(all) == 1 && all[0] == "*" {
			out = append(out, e)
			continue
		}
		keys := append(append([]string(nil), all...), sub.topics[e.Topic]...)
		if len(keys) == 1 && keys[0] == "*" {
			out = append(out, e)
			continue
		}
		for _, k := range keys {
			if matchesKey(e, k) {
				out = append(out, e)
			}
		}
	}
	return out
}

func matchesKey(e Event, key string) bool {
	if e.Key == key {
		return true
	}
	for _, fk := range e.FilterKeys {
		if fk == key {
			return true
		}
	}
	return false
}
