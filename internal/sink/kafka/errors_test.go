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
	}{
		{nil, false, delivered},
		{kgo.ErrRecordTimeout, false, transient},
		{fmt.Errorf("%w, last err: %w", kgo.ErrRecordTimeout, kerr.NotEnoughReplicas), false, transient},
		{fmt.Errorf("%w, last err: %w", kgo.ErrRecordTimeout, kerr.SaslAuthenticationFailed), false, transient},
		{fmt.Errorf("%w, last err: %w", kgo.ErrRecordTimeout, kerr.UnknownTopicOrPartition), false, permanent},
		{kgo.ErrRecordRetries, false, transient},
		{kerr.NotLeaderForPartition, false, transient},
		{kerr.NotEnoughReplicas, false, transient},
		{kerr.RequestTimedOut, false, transient},
		{kerr.SaslAuthenticationFailed, false, transient},
		{fmt.Errorf("%w (uncompressed_bytes=2000)", kerr.MessageTooLarge), false, permanent},
		{kerr.RecordListTooLarge, false, permanent},
		{kerr.InvalidTopicException, false, permanent},
		{kerr.TopicAuthorizationFailed, false, permanent},
		{kerr.ClusterAuthorizationFailed, false, permanent},
		{kerr.UnknownTopicOrPartition, false, permanent},
		{kerr.InvalidRecord, false, permanent},
		{kerr.CorruptMessage, false, permanent},
		{kerr.InvalidTimestamp, false, permanent},
		{kerr.PolicyViolation, false, permanent},
		{kerr.UnknownServerError, false, permanent},
		{&net.OpError{Op: "dial", Err: errors.New("connection refused")}, false, transient},
		{io.EOF, false, transient},
		{kgo.ErrClientClosed, true, abandoned},
		{context.Canceled, true, abandoned},
		{kgo.ErrClientClosed, false, transient},
	}
	for _, c := range cases {
		if got := classify(c.err, c.stopping); got != c.want {
			t.Errorf("classify(%v, stopping=%v) = %d, want %d", c.err, c.stopping, got, c.want)
		}
	}
}
