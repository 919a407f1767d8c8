// Package nomadevents implements the nomad_events source: it ships the
// events of Nomad's event stream (GET /v1/event/stream) with a durable,
// de-duplicating cursor.
//
// Nomad's stream is fragile: its buffer lives in memory (100 Raft indexes by
// default), a resumed stream repeats the events of the requested index, an
// index that aged out silently starts later, and an agent restart replays
// old events. The source copes with each:
//
//   - The cursor (Cursor) is the index of the last delivered event plus the
//     identities of the events delivered at that index. It is persisted
//     atomically (internal/checkpoint) and only over the contiguous prefix
//     of batches that every sink acknowledged (tracker).
//   - A connection resumes at the cursor's index (inclusive) and drops what
//     the cursor says was delivered (gate). A clean run delivers each event
//     once; after a crash, at most the unacknowledged window repeats.
//   - A resumed stream whose first index is later than an exact cursor
//     means Nomad no longer holds it: events may be missing. This gap is
//     counted and logged, and with resync = true followed by a snapshot of
//     the current state as synthetic events.
//   - An index that goes backwards resets the cursor.
//   - Heartbeats keep the connection known to be alive; silence for
//     heartbeat_timeout ends it. Reconnects back off exponentially with
//     jitter; a 403 names the missing ACL capability.
//
// Each Nomad event becomes one drover event whose message is the event's
// JSON exactly as Nomad sent it, with flat summary fields for routing (see
// buildEvent). docs/components/source-nomad_events.md is the user
// documentation.
package nomadevents
