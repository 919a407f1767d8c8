package kafka

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/sink/sinktest"
)

// kafkaDest is a kfake cluster as the conformance suite's destination: in
// FailTransient, Unauthorized and Refuse modes every produce request is
// answered with the variant's error code.
type kafkaDest struct {
	c                               *cluster
	transient, unauthorized, refuse int16
}

// conformanceTopic is where the suite's events go: their nomad.job_name is
// "web" and the sink's topic template "logs-{{ nomad.job_name }}". The key
// is the events' file, so that all of them share a partition and keep
// their order.
const conformanceTopic = "logs-web"

func (d *kafkaDest) SetMode(m sinktest.Mode) {
	switch m {
	case sinktest.FailTransient:
		d.c.setProduceError(d.transient)
	case sinktest.Unauthorized:
		d.c.setProduceError(d.unauthorized)
	case sinktest.Refuse:
		d.c.setProduceError(d.refuse)
	default:
		d.c.setProduceError(0)
	}
}

func (d *kafkaDest) Received() []string {
	return messages(d.c.t, d.c.consume(conformanceTopic, 3))
}

func TestConformance(t *testing.T) {
	variants := []struct {
		name                            string
		transient, unauthorized, refuse *kerr.Error
		compression                     string
	}{
		{"not-enough-replicas/topic-authorization/message-too-large", kerr.NotEnoughReplicas, kerr.TopicAuthorizationFailed, kerr.MessageTooLarge, "none"},
		{"not-leader/cluster-authorization/policy-violation", kerr.NotLeaderForPartition, kerr.ClusterAuthorizationFailed, kerr.PolicyViolation, "zstd"},
		{"kafka-storage-error/sasl/invalid-topic", kerr.KafkaStorageError, kerr.SaslAuthenticationFailed, kerr.InvalidTopicException, "snappy"},
		{"leader-not-available/topic-authorization/invalid-record", kerr.LeaderNotAvailable, kerr.TopicAuthorizationFailed, kerr.InvalidRecord, "lz4"},
	}
	batched := "the brokers answer per partition batch, not per record, and the client splits batches itself; " +
		"records refused alone are tested by TestRefusedRecordsAreDeadLettered"
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			sinktest.Run(t, sinktest.Harness{
				Unsupported: map[sinktest.Mode]string{sinktest.TooLarge: batched, sinktest.RefusePoison: batched},
				New: func(t *testing.T, cctx component.Context) (component.Sink, sinktest.Destination) {
					c := newCluster(t, map[string]int32{conformanceTopic: 3})
					cfg := testConfig(c, "logs-{{ nomad.job_name }}")
					cfg.Key = "{{ file }}"
					cfg.Compression = v.compression
					return build(t, cfg, cctx), &kafkaDest{c: c, transient: v.transient.Code,
						unauthorized: v.unauthorized.Code, refuse: v.refuse.Code}
				}})
		})
	}
}
