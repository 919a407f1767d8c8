package kafka

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/metrics"
	"github.com/drover-dev/drover/internal/sink/sinktest"
)

// kafkaDest is a kfake cluster as the conformance suite's destination: in
// FailTransient and Refuse modes every produce request is answered with
// the variant's error code.
type kafkaDest struct {
	c                 *cluster
	transient, refuse int16
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
		name              string
		transient, refuse *kerr.Error
		compression       string
	}{
		{"not-enough-replicas/message-too-large", kerr.NotEnoughReplicas, kerr.MessageTooLarge, "none"},
		{"not-leader/topic-authorization", kerr.NotLeaderForPartition, kerr.TopicAuthorizationFailed, "zstd"},
		{"kafka-storage-error/invalid-topic", kerr.KafkaStorageError, kerr.InvalidTopicException, "snappy"},
		{"leader-not-available/invalid-record", kerr.LeaderNotAvailable, kerr.InvalidRecord, "lz4"},
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			sinktest.Run(t, sinktest.Harness{New: func(t *testing.T, m *metrics.Component) (component.Sink, sinktest.Destination) {
				c := newCluster(t, map[string]int32{conformanceTopic: 3})
				cfg := testConfig(c, "logs-{{ nomad.job_name }}")
				cfg.Key = "{{ file }}"
				cfg.Compression = v.compression
				return build(t, cfg, m, nil), &kafkaDest{c: c, transient: v.transient.Code, refuse: v.refuse.Code}
			}})
		})
	}
}
