package kafka

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/drover-dev/drover/internal/sink/retry"
)

// outcome is what a record's produce result means for its event.
type outcome uint8

const (
	// delivered: the brokers have the record (with the configured acks).
	delivered outcome = iota
	// transient: the record may be accepted later; the sink produces it
	// again after a backoff.
	transient
	// refused: the brokers refused the record for its content; it is
	// rejected and goes to the dead-letter output.
	refused
	// abandoned: the sink is stopping and gave the record up without a
	// verdict; its batch is released as failed.
	abandoned
)

// refusedErrors are the broker errors that the same record meets again
// however often it is produced, because of the record itself, with the
// discard reason of each.
var refusedErrors = map[*kerr.Error]string{
	kerr.MessageTooLarge:       retry.ReasonTooLarge, // the record exceeds batch.max_bytes or the topic's max.message.bytes
	kerr.RecordListTooLarge:    retry.ReasonTooLarge, // the same, for a batch of one record
	kerr.InvalidTopicException: ReasonInvalidTopic,   // the topic name is not legal
	kerr.InvalidRecord:         "invalid_record",     // the broker's validation refused the record
	kerr.CorruptMessage:        "invalid_record",     // the record does not pass the broker's checks
	kerr.InvalidTimestamp:      "invalid_timestamp",  // outside the topic's message.timestamp.difference.max.ms
	kerr.PolicyViolation:       "policy_violation",   // a broker policy refused it
}

// waitingErrors are the broker errors that concern every record, not this
// one: credentials, access rights, a missing topic, settings the brokers
// do not take. The records wait (and are produced again) until they are
// fixed, by the operator or a reload, with the health reason of each.
var waitingErrors = map[*kerr.Error]string{
	kerr.SaslAuthenticationFailed:           retry.ReasonUnauthorized,
	kerr.IllegalSaslState:                   retry.ReasonUnauthorized,
	kerr.UnsupportedSaslMechanism:           retry.ReasonUnauthorized,
	kerr.TopicAuthorizationFailed:           retry.ReasonForbidden, // no WRITE on the topic
	kerr.ClusterAuthorizationFailed:         retry.ReasonForbidden, // no IDEMPOTENT_WRITE on the cluster (brokers before 3.0)
	kerr.TransactionalIDAuthorizationFailed: retry.ReasonForbidden, // no access to the producer id
	kerr.UnknownTopicOrPartition:            retry.ReasonNotFound,  // the topic does not exist
	kerr.InvalidRequiredAcks:                retry.ReasonMisconfigure,
	kerr.UnsupportedCompressionType:         retry.ReasonMisconfigure,
	kerr.UnsupportedForMessageFormat:        retry.ReasonMisconfigure,
}

// ReasonInvalidTopic is the discard reason of an event whose topic is not
// a valid Kafka topic name, or whose topic template names a missing field
// without a default_topic.
const ReasonInvalidTopic = "invalid_topic"

// classify returns what a record's produce error means, and its reason
// (for health while transient, for the discard when refused). stopping
// reports whether the sink is shutting down.
func classify(err error, stopping bool) (outcome, string) {
	if err == nil {
		return delivered, ""
	}
	if errors.Is(err, kgo.ErrClientClosed) || errors.Is(err, kgo.ErrAborting) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		if stopping {
			return abandoned, ""
		}
		return transient, retry.ReasonTimeout
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		if r, ok := waitingErrors[ke]; ok {
			return transient, r
		}
		if r, ok := refusedErrors[ke]; ok {
			return refused, r
		}
		if ke.Retriable {
			return transient, retry.ReasonServerError
		}
		// A broker error that Kafka marks as not retriable and that is not
		// known to concern the record: it is not the record's fault as far
		// as drover knows, so the record waits.
		return transient, retry.ReasonRefused
	}
	if errors.Is(err, kgo.ErrRecordTimeout) || errors.Is(err, kgo.ErrRecordRetries) {
		// The client retried on its own until delivery_timeout.
		return transient, retry.ReasonTimeout
	}
	// Network and dial errors: the record may get through later.
	return transient, retry.ReasonUnreachable
}
