package kafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestClassify(t *testing.T) {
	cases := []struct {
		err      error
		stopping bool
		want     outcome
		reason   string
	}{
		{nil, false, delivered, ""},
		{kgo.ErrRecordTimeout, false, transient, "timeout"},
		{fmt.Errorf("%w, last err: %w", kgo.ErrRecordTimeout, kerr.NotEnoughReplicas), false, transient, "server_error"},
		{fmt.Errorf("%w, last err: %w", kgo.ErrRecordTimeout, kerr.SaslAuthenticationFailed), false, transient, "unauthorized"},
		{fmt.Errorf("%w, last err: %w", kgo.ErrRecordTimeout, kerr.UnknownTopicOrPartition), false, transient, "not_found"},
		{kgo.ErrRecordRetries, false, transient, "timeout"},
		{kerr.NotLeaderForPartition, false, transient, "server_error"},
		{kerr.NotEnoughReplicas, false, transient, "server_error"},
		{kerr.RequestTimedOut, false, transient, "server_error"},
		{kerr.SaslAuthenticationFailed, false, transient, "unauthorized"},
		{kerr.TopicAuthorizationFailed, false, transient, "forbidden"},
		{kerr.ClusterAuthorizationFailed, false, transient, "forbidden"},
		{kerr.UnknownTopicOrPartition, false, transient, "not_found"},
		{kerr.UnsupportedCompressionType, false, transient, "misconfigured"},
		{kerr.UnknownServerError, false, transient, "refused"},
		{fmt.Errorf("%w (uncompressed_bytes=2000)", kerr.MessageTooLarge), false, refused, "too_large"},
		{kerr.RecordListTooLarge, false, refused, "too_large"},
		{kerr.InvalidTopicException, false, refused, "invalid_topic"},
		{kerr.InvalidRecord, false, refused, "invalid_record"},
		{kerr.CorruptMessage, false, refused, "invalid_record"},
		{kerr.InvalidTimestamp, false, refused, "invalid_timestamp"},
		{kerr.PolicyViolation, false, refused, "policy_violation"},
		{&net.OpError{Op: "dial", Err: errors.New("connection refused")}, false, transient, "unreachable"},
		{io.EOF, false, transient, "unreachable"},
		{kgo.ErrClientClosed, true, abandoned, ""},
		{context.Canceled, true, abandoned, ""},
		{kgo.ErrClientClosed, false, transient, "timeout"},
	}
	for _, c := range cases {
		if got, reason := classify(c.err, c.stopping); got != c.want || reason != c.reason {
			t.Errorf("classify(%v, stopping=%v) = %d %s, want %d %s", c.err, c.stopping, got, reason, c.want, c.reason)
		}
	}
}
