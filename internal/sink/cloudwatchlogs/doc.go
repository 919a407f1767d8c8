// Package cloudwatchlogs is the `sink "cloudwatch_logs"` component: it
// sends events to AWS CloudWatch Logs with PutLogEvents (AWS SDK for Go v2),
// into log groups and streams named by templates, created on demand.
//
// The service's rules are kept on drover's side, so that a request is not
// refused as a whole:
//
//   - Requests hold at most 10,000 events and 1 MiB counting 26 bytes per
//     event: the batch encoder (encode.go) writes every event as a 26-byte
//     header (its timestamp and flags) followed by its message, so that the
//     driver's batch limits count exactly what the service counts.
//   - A message longer than max_event_bytes is truncated, with a marker,
//     and counted (encode.go).
//   - The events of a request are split by group and stream (route.go),
//     checked against the service's time window (no older than 14 days, no
//     more than 2 hours ahead: discarded with a reason and counted), sorted
//     by time and cut into calls that span at most 24 hours (plan.go).
//   - Calls to one stream are serialized (locks.go); a missing group or
//     stream is created when allowed (send.go).
//   - Throttling, unavailability, server and network errors, refused
//     credentials (AccessDenied, expired tokens) and a missing group or
//     stream that may not be created are retried by the driver with
//     backoff until they succeed; a call refused with InvalidParameter is
//     split down to single events, and an event refused alone is rejected
//     (errors.go). Events the service rejects one by one
//     (rejectedLogEventsInfo) are rejected with its reason. Rejected events
//     go to the sink's dead-letter output (docs/delivery.md).
//
// Sequence tokens are not used: the service ignores them.
//
// docs/components/sink-cloudwatch_logs.md is the user documentation.
package cloudwatchlogs
