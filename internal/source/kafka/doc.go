// Package kafka is the `source "kafka"` component: a member of a Kafka
// consumer group (franz-go, cooperative-sticky balancing) that turns
// records into events, for a tier of aggregators behind the node agents'
// kafka sink.
//
// At least once, end to end: each assigned partition has an ordered-ack
// tracker (checkpoint.Tracker); a batch of a partition's records commits,
// once every sink acknowledged it and every batch before it, the offset
// after its last record. Offsets are committed every commit_interval, when
// a partition is revoked and at shutdown, never past an unacknowledged
// record. A batch that a consumer gave up on (Failed) ends the group
// session: what was acknowledged is committed, the client leaves and joins
// again, and the partitions are read again from their committed offsets.
//
// Rebalancing is cooperative: on revoke, the source stops fetching the
// partitions, drops what it fetched of them and did not emit, waits up to
// revoke_timeout for their emitted batches to be acknowledged, commits
// what was, and releases them. The new owner starts at the committed
// offset: records may repeat, never vanish. Lost partitions (the session
// expired) are dropped without a commit.
//
// Backpressure: a batch is emitted before the next poll, and Emit blocks
// while the sinks are full; franz-go keeps at most one fetch per broker
// buffered and does not fetch again until it is polled, so a slow sink
// stops fetching instead of filling memory.
//
// Decoding (decode.go): "drover" restores events as drover's json encoding
// wrote them (timestamp, message, truncated/partial, fields and the
// stream's metadata, shared by reference), "json" makes an object's members
// fields, "text" takes the value as the message. record_fields adds the
// record's topic, partition, offset, key, headers and timestamp.
//
// Status returns the assignment and the per-partition offsets and lag for
// the status page. docs/components/source-kafka.md is the user
// documentation.
package kafka
