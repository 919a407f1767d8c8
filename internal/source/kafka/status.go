package kafka

import (
	"cmp"
	"slices"
)

// Status is what the source reports about its group membership, for the
// status page and tests.
type Status struct {
	// GroupID is the consumer group; MemberID and Generation this member's
	// identity in the current generation ("" and -1 before it joined).
	GroupID    string `json:"group_id"`
	MemberID   string `json:"member_id"`
	Generation int32  `json:"generation"`
	// Partitions are the assigned partitions, by topic and partition.
	Partitions []PartitionStatus `json:"partitions"`
}

// PartitionStatus is one assigned partition. Offsets are -1 while unknown.
type PartitionStatus struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	// Committed is the offset this member last committed.
	Committed int64 `json:"committed"`
	// Acknowledged is the end of the contiguous prefix of records every
	// sink acknowledged: the next commit.
	Acknowledged int64 `json:"acknowledged"`
	// Fetched is the offset after the last record read.
	Fetched int64 `json:"fetched"`
	// HighWatermark is the partition's end at the last fetch.
	HighWatermark int64 `json:"high_watermark"`
	// Lag is HighWatermark - Acknowledged, the records not yet delivered
	// (drover_kafka_consumer_lag).
	Lag int64 `json:"lag"`
	// InFlight is the number of emitted batches not yet acknowledged.
	InFlight int `json:"in_flight_batches"`
	// Revoking is set while the partition waits for its acknowledgements
	// before it is released.
	Revoking bool `json:"revoking"`
}

// Status returns the source's assignment and offsets now. It is safe to
// call at any time, also before Run and after Close (no partitions then).
func (s *Source) Status() Status {
	st := Status{GroupID: s.cfg.GroupID, Generation: -1, Partitions: []PartitionStatus{}}
	s.mu.Lock()
	cl := s.cl
	for _, p := range s.parts {
		ps := PartitionStatus{Topic: p.topic, Partition: p.partition, Committed: p.committed, Acknowledged: -1,
			Fetched: p.fetched, HighWatermark: p.hwm, Lag: -1, Revoking: p.revoking}
		if p.tracker != nil {
			ps.Acknowledged = p.tracker.Snapshot().offset
			ps.InFlight = p.tracker.PendingBatches()
			if p.hwm >= 0 {
				ps.Lag = max(p.hwm-ps.Acknowledged, 0)
			}
		}
		st.Partitions = append(st.Partitions, ps)
	}
	s.mu.Unlock()
	if cl != nil {
		st.MemberID, st.Generation = cl.GroupMetadata()
	}
	slices.SortFunc(st.Partitions, func(a, b PartitionStatus) int {
		return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	return st
}
