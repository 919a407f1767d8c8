package kafka

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// outcome is what a record's produce result means for its event.
type outcome uint8

const (
	// delivered: the brokers have the record (with the configured acks).
	delivered outcome = iota
	// transient: the record may be accepted later; the sink produces it
	// again after a backoff.
	transient
	// permanent: the brokers refused the record for good; it is discarded.
	permanent
	// abandoned: the sink is stopping and gave the record up without a
	// verdict; its batch is released as failed.
	abandoned
)

// permanentErrors are the broker errors that the same record meets again
// however often it is produced. Each is discarded with its reason.
var permanentErrors = []*kerr.Error{
	kerr.MessageTooLarge,                    // the record exceeds batch.max_bytes or the topic's max.message.bytes
	kerr.RecordListTooLarge,                 // the same, for a batch of one record
	kerr.InvalidTopicException,              // the topic name is not legal
	kerr.TopicAuthorizationFailed,           // no WRITE on the topic
	kerr.ClusterAuthorizationFailed,         // no IDEMPOTENT_WRITE on the cluster (brokers before 3.0)
	kerr.TransactionalIDAuthorizationFailed, // no access to the producer id
	kerr.UnknownTopicOrPartition,            // the topic does not exist (after the client's own retries)
	kerr.InvalidRecord,                      // the broker's validation refused the record
	kerr.CorruptMessage,                     // the record does not pass the broker's checks
	kerr.InvalidTimestamp,                   // outside the topic's message.timestamp.difference.max.ms
	kerr.PolicyViolation,                    // a broker policy refused it
	kerr.InvalidRequiredAcks,                // the acks setting is not accepted
	kerr.UnsupportedCompressionType,         // the topic does not accept the codec
	kerr.UnsupportedForMessageFormat,        // the topic's message format is too old
}

// retriedAuthErrors are failures of the connection's authentication. They
// concern every record, not this one: the records wait (and are produced
// again) until the credentials are fixed by a reload, rather than being
// discarded.
var retriedAuthErrors = []*kerr.Error{
	kerr.SaslAuthenticationFailed,
	kerr.IllegalSaslState,
	kerr.UnsupportedSaslMechanism,
}

// classify returns what a record's produce error means. stopping reports
// whether the sink is shutting down.
func classify(err error, stopping bool) outcome {
	if err == nil {
		return delivered
	}
	if errors.Is(err, kgo.ErrClientClosed) || errors.Is(err, kgo.ErrAborting) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		if stopping {
			return abandoned
		}
		return transient
	}
	if errors.Is(err, kgo.ErrRecordTimeout) || errors.Is(err, kgo.ErrRecordRetries) {
		// The client retried on its own until delivery_timeout. Only a
		// topic that stayed unknown all along will not appear by waiting.
		if errors.Is(err, kerr.UnknownTopicOrPartition) {
			return permanent
		}
		return transient
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		for _, p := range retriedAuthErrors {
			if ke == p {
				return transient
			}
		}
		for _, p := range permanentErrors {
			if ke == p {
				return permanent
			}
		}
		if ke.Retriable {
			return transient
		}
		// A broker error that Kafka marks as not retriable and that is not
		// known to concern the connection: the same record fails again.
		return permanent
	}
	// Network and dial errors: the record may get through later.
	return transient
}
