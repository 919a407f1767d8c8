package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/drover-dev/drover/internal/backoff"
	"github.com/drover-dev/drover/internal/checkpoint"
	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/health"
	"github.com/drover-dev/drover/internal/metrics"
)

// SourceType is the component type name, and the source_type of events
// that carry no metadata of their own.
const SourceType = "kafka"

func init() { component.RegisterSource(SourceType, NewConfig, New) }

// Discard reasons.
const (
	// ReasonEmptyRecord: a record without a value (a tombstone).
	ReasonEmptyRecord = "empty_record"
)

// ConditionCommits is the condition (degraded) held while offset commits
// fail: the events are delivered, but a restart would read them again.
const ConditionCommits = "commits"

// pollWait bounds one poll, so that a batch that failed while the topics
// are idle is noticed.
const pollWait = time.Second

// commitTimeout bounds one offset commit.
const commitTimeout = 10 * time.Second

// Source consumes Kafka topics as a member of a consumer group (see the
// package documentation). It implements component.Source.
type Source struct {
	cfg    *Config
	id     string
	log    *slog.Logger
	m      *metrics.Component
	opts   []kgo.Opt
	plain  *event.Meta
	dec    *decoder // Run's goroutine only
	ins    instruments
	commit *health.Streak
	decErr *health.Streak
	empty  *health.Streak

	apiMu      sync.Mutex
	api        *health.Streak
	apiConnect bool // the current run of API failures began with a failed connection

	// closing is set while Close commits and leaves: the revoke of the
	// leave has nothing left to do.
	closing atomic.Bool

	mu    sync.Mutex
	cl    *kgo.Client
	parts map[tp]*partition
}

type tp struct {
	topic     string
	partition int32
}

// position is where a partition's acknowledged prefix ends: the offset of
// the next record, and the leader epoch of the last one.
type position struct {
	offset int64
	epoch  int32
}

// partition is the state of one assigned partition.
type partition struct {
	tp
	tracker   *checkpoint.Tracker[position] // nil until the first record
	committed int64                         // offset this member last committed; -1 none
	fetched   int64                         // offset after the last record polled; -1 none
	hwm       int64                         // high watermark at the last poll; -1 unknown
	revoking  bool
	lag       prometheus.Gauge
}

type instruments struct {
	lag        *prometheus.GaugeVec
	commits    *prometheus.CounterVec
	rebalances *prometheus.CounterVec
	assigned   prometheus.Gauge
	fetchErr   prometheus.Counter
	commitErr  prometheus.Counter
	decodeErr  prometheus.Counter
	connectErr prometheus.Counter
	emptyRec   prometheus.Counter
}

func newInstruments(m *metrics.Component) (instruments, error) {
	reg := m.Registerer()
	labels := []string{"component_kind", "component_type", "component_id"}
	lag, err := metrics.RegisterOrReuse(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "drover_kafka_consumer_lag",
		Help: "Records of an assigned partition not yet acknowledged by every sink: the high watermark minus the end of the acknowledged prefix.",
	}, append(slices.Clone(labels), "topic", "partition")))
	if err != nil {
		return instruments{}, err
	}
	commits, err := metrics.RegisterOrReuse(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "drover_kafka_offset_commits_total",
		Help: "Offset commits of the consumer group, by outcome (ok, error).",
	}, append(slices.Clone(labels), "outcome")))
	if err != nil {
		return instruments{}, err
	}
	rebalances, err := metrics.RegisterOrReuse(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "drover_kafka_rebalances_total",
		Help: "Changes of the consumer's assignment, by event (assigned, revoked, lost).",
	}, append(slices.Clone(labels), "event")))
	if err != nil {
		return instruments{}, err
	}
	assigned, err := metrics.RegisterOrReuse(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "drover_kafka_assigned_partitions",
		Help: "Partitions assigned to this member of the consumer group.",
	}, labels))
	if err != nil {
		return instruments{}, err
	}
	l := m.Labels()
	return instruments{
		lag:        lag.MustCurryWith(l),
		commits:    commits.MustCurryWith(l),
		rebalances: rebalances.MustCurryWith(l),
		assigned:   assigned.With(l),
		fetchErr:   m.Errors("fetch"),
		commitErr:  m.Errors("commit"),
		decodeErr:  m.Errors("decode"),
		connectErr: m.Errors("connect"),
		emptyRec:   m.Discarded(ReasonEmptyRecord),
	}, nil
}

// New returns a source for cfg. It does not contact the brokers: the
// client is created and joins the group when Run starts.
func New(cctx component.Context, cfg *Config) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cctx.Log()
	log = log.With("brokers", strings.Join(cfg.Brokers, ","), "group", cfg.GroupID)
	m := cctx.Metrics
	if m == nil {
		m = metrics.ForTest(string(component.KindSource), SourceType, cctx.ID)
	}
	conn, err := cfg.Config.Options(log)
	if err != nil {
		return nil, err
	}
	// Building a client checks the options; it connects only when used.
	probe, err := kgo.NewClient(conn...)
	if err != nil {
		return nil, fmt.Errorf("kafka client options: %w", err)
	}
	probe.Close()
	ins, err := newInstruments(m)
	if err != nil {
		return nil, fmt.Errorf("kafka source metrics: %w", err)
	}
	s := &Source{
		cfg:   cfg,
		id:    cctx.ID,
		log:   log,
		m:     m,
		plain: plainMeta(cctx.ID, cctx.Host),
		ins:   ins,
		parts: map[tp]*partition{},
		api: health.NewStreak(health.StreakConfig{Logger: log, Health: cctx.Health, Condition: health.ConditionAPI,
			Remind: health.DefaultRemind}),
		commit: health.NewStreak(health.StreakConfig{Logger: log, Health: cctx.Health, Condition: ConditionCommits,
			State: health.Degraded, Remind: health.DefaultRemind}),
		decErr: health.NewStreak(health.StreakConfig{Logger: log, Remind: health.DefaultRemind}),
		empty:  health.NewStreak(health.StreakConfig{Logger: log, Remind: health.DefaultRemind}),
	}
	s.dec = newDecoder(cfg.Decoding, cctx.ID, s.plain)
	s.opts = append(conn, s.consumerOptions()...)
	return s, nil
}

// consumerOptions are the options of the group member.
func (s *Source) consumerOptions() []kgo.Opt {
	c := s.cfg
	topics, regex := c.consumeTopics()
	start := kgo.NewOffset().AtStart()
	if c.StartOffset == StartLatest {
		start = kgo.NewOffset().AtEnd()
	}
	opts := []kgo.Opt{
		kgo.ConsumerGroup(c.GroupID),
		kgo.ConsumeTopics(topics...),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(start),
		kgo.SessionTimeout(c.SessionTimeout),
		kgo.HeartbeatInterval(c.HeartbeatInterval),
		kgo.RebalanceTimeout(c.RebalanceTimeout),
		kgo.FetchMaxBytes(int32(c.FetchMaxBytes)),
		kgo.FetchMaxPartitionBytes(int32(c.FetchMaxPartitionBytes)),
		kgo.MetadataMaxAge(c.TopicRefreshInterval),
		kgo.RetryBackoffFn(func(tries int) time.Duration {
			b := backoff.Backoff{Initial: c.RetryInitialBackoff, Max: c.RetryMaxBackoff}
			var d time.Duration
			for range max(tries, 1) {
				d = b.Next()
			}
			return d
		}),
		kgo.OnPartitionsAssigned(s.onAssigned),
		kgo.OnPartitionsRevoked(s.onRevoked),
		kgo.OnPartitionsLost(s.onLost),
		kgo.WithHooks(hooks{s}),
	}
	if regex {
		opts = append(opts, kgo.ConsumeRegex())
	}
	return opts
}

// Run consumes until ctx ends, then returns nil and keeps its group
// membership: Close waits for the acknowledgements, commits and leaves.
// It returns an error only when the client cannot be created.
func (s *Source) Run(ctx context.Context, out component.Emitter) error {
	cl, err := s.client()
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	cctx, stop := context.WithCancel(ctx)
	wg.Go(func() { s.commitLoop(cctx) })
	defer func() {
		stop()
		wg.Wait()
	}()
	for ctx.Err() == nil {
		if s.failedBatch() {
			if cl, err = s.restart(ctx); err != nil {
				return err
			}
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, pollWait)
		fs := cl.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		s.fetchErrors(fs)
		if err := s.emitFetches(ctx, out, fs); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
	return nil
}

// client returns the group member, creating it (and joining the group) when
// there is none.
func (s *Source) client() (*kgo.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cl != nil {
		return s.cl, nil
	}
	cl, err := kgo.NewClient(s.opts...)
	if err != nil {
		return nil, fmt.Errorf("creating the Kafka client: %w", err)
	}
	s.cl = cl
	s.log.Info("joining the consumer group", "topics", strings.Join(s.cfg.Topics, ","))
	return cl, nil
}

// failedBatch reports whether a batch of an assigned partition was given
// up by a consumer.
func (s *Source) failedBatch() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.parts {
		if p.tracker != nil && p.tracker.FailedBatch() {
			return true
		}
	}
	return false
}

// restart ends the group session after a batch was given up: it commits
// what is acknowledged, leaves the group (the revoke waits for the batches
// in flight for up to revoke_timeout) and joins again, so that every
// partition is read again from its committed offset.
func (s *Source) restart(ctx context.Context) (*kgo.Client, error) {
	s.log.Warn("a batch was not delivered; reading again from the last acknowledged offsets (events after it may repeat)")
	s.mu.Lock()
	cl := s.cl
	s.cl = nil // the commit loop leaves the closing client alone
	s.mu.Unlock()
	s.commitOffsets(ctx, cl, nil)
	cl.Close()
	s.mu.Lock()
	s.forgetLocked(nil)
	s.mu.Unlock()
	return s.client()
}

// commitLoop commits the acknowledged offsets every commit_interval.
func (s *Source) commitLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.CommitInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.mu.Lock()
			cl := s.cl
			s.mu.Unlock()
			if cl != nil {
				s.commitOffsets(ctx, cl, nil)
			}
		}
	}
}

// fetchErrors counts and reports the errors of a poll. Errors of the group
// session are reported by the OnGroupManageError hook; the end of a poll's
// wait is no error.
func (s *Source) fetchErrors(fs kgo.Fetches) {
	for _, fe := range fs.Errors() {
		var sess *kgo.ErrGroupSession
		switch {
		case errors.Is(fe.Err, context.DeadlineExceeded), errors.Is(fe.Err, context.Canceled),
			errors.Is(fe.Err, kgo.ErrClientClosed), errors.As(fe.Err, &sess):
			continue
		}
		s.ins.fetchErr.Inc()
		s.apiFail(false, "fetching failed; retrying", fe.Err, "topic", fe.Topic, "partition", fe.Partition)
	}
}

// emitFetches decodes the records of a poll and emits them, a batch per
// partition and at most max_batch_events records, in offset order.
func (s *Source) emitFetches(ctx context.Context, out component.Emitter, fs kgo.Fetches) error {
	got := false
	for i := range fs {
		for j := range fs[i].Topics {
			t := &fs[i].Topics[j]
			for k := range t.Partitions {
				p := &t.Partitions[k]
				if len(p.Records) == 0 {
					continue
				}
				got = true
				if err := s.emitPartition(ctx, out, t.Topic, p); err != nil {
					return err
				}
			}
		}
	}
	if got {
		s.apiProgress()
	}
	return nil
}

func (s *Source) emitPartition(ctx context.Context, out component.Emitter, topic string, fp *kgo.FetchPartition) error {
	key := tp{topic, fp.Partition}
	for recs := fp.Records; len(recs) > 0; {
		n := min(len(recs), s.cfg.MaxBatchEvents)
		chunk := recs[:n]
		recs = recs[n:]
		evs, bytes := s.decode(topic, chunk)
		last := chunk[len(chunk)-1]
		pos := position{offset: last.Offset + 1, epoch: last.LeaderEpoch}

		s.mu.Lock()
		p := s.parts[key]
		if p == nil || p.revoking {
			// Revoked or lost while it was fetched: the next owner reads
			// these records from the committed offset.
			s.mu.Unlock()
			return nil
		}
		if p.tracker == nil {
			p.tracker = checkpoint.NewTracker(position{offset: chunk[0].Offset, epoch: -1}, s.m.Unacknowledged, nil)
			if p.committed < 0 {
				p.committed = chunk[0].Offset
			}
		}
		p.fetched, p.hwm = pos.offset, fp.HighWatermark
		s.updateLagLocked(p)
		s.m.ReceivedEvents.Add(float64(len(chunk)))
		s.m.ReceivedBytes.Add(float64(bytes))
		if len(evs) == 0 {
			p.tracker.Mark(pos)
			s.mu.Unlock()
			continue
		}
		ack := p.tracker.Add(pos)
		s.mu.Unlock()

		err := out.Emit(ctx, &event.Batch{Events: evs, Ack: ack})
		ack.Release(event.Delivered)
		if err != nil {
			return fmt.Errorf("emitting events: %w", err)
		}
		s.m.SentEvents.Add(float64(len(evs)))
	}
	return nil
}

// decode turns records into events; records without a value are counted
// and left out. It returns the events and the value bytes read.
func (s *Source) decode(topic string, recs []*kgo.Record) ([]event.Event, int) {
	evs := make([]event.Event, 0, len(recs))
	bytes, empty := 0, 0
	for _, r := range recs {
		bytes += len(r.Value)
		if r.Value == nil {
			empty++
			continue
		}
		evs = append(evs, event.Event{})
		var extra []event.Field
		if s.cfg.RecordFields != "" {
			extra = []event.Field{{Key: s.cfg.RecordFields, Value: recordValue(topic, r)}}
		}
		if err := s.dec.decode(&evs[len(evs)-1], r.Value, r.Timestamp, extra...); err != nil {
			s.ins.decodeErr.Inc()
			s.decErr.Fail("records that cannot be decoded as "+s.cfg.Decoding+" are shipped as plain messages", "decode", err, 1,
				"topic", topic, "partition", r.Partition, "offset", r.Offset)
		}
	}
	if empty > 0 {
		s.ins.emptyRec.Add(float64(empty))
		s.empty.Fail("discarding records without a value (tombstones)", ReasonEmptyRecord, nil, empty, "topic", topic)
	}
	return evs, bytes
}

// recordValue is the record_fields object of a record.
func recordValue(topic string, r *kgo.Record) event.Value {
	key := event.Value{}
	if r.Key != nil {
		key = event.BytesValue(r.Key)
	}
	hs := make([]event.Field, 0, len(r.Headers))
	for _, h := range r.Headers {
		if slices.ContainsFunc(hs, func(f event.Field) bool { return f.Key == h.Key }) {
			continue // the first of repeated headers
		}
		hs = append(hs, event.Field{Key: h.Key, Value: event.BytesValue(h.Value)})
	}
	return event.ObjectValue(event.NewFields(
		event.Field{Key: "topic", Value: event.StringValue(topic)},
		event.Field{Key: "partition", Value: event.IntValue(int64(r.Partition))},
		event.Field{Key: "offset", Value: event.IntValue(r.Offset)},
		event.Field{Key: "key", Value: key},
		event.Field{Key: "headers", Value: event.ObjectValue(event.NewFields(hs...))},
		event.Field{Key: "timestamp", Value: event.TimeValue(r.Timestamp)},
	))
}

// updateLagLocked sets the lag gauge of p. The caller holds mu.
func (s *Source) updateLagLocked(p *partition) {
	if p.tracker == nil || p.hwm < 0 {
		return
	}
	if p.lag == nil {
		p.lag = s.ins.lag.WithLabelValues(p.topic, strconv.Itoa(int(p.partition)))
	}
	p.lag.Set(float64(max(p.hwm-p.tracker.Snapshot().offset, 0)))
}

// commitOffsets commits the acknowledged prefix of the assigned partitions
// (only those in only, when not nil) whose acknowledged offset moved past
// the last commit.
func (s *Source) commitOffsets(ctx context.Context, cl *kgo.Client, only map[tp]bool) {
	s.mu.Lock()
	offsets := map[string]map[int32]kgo.EpochOffset{}
	n := 0
	for k, p := range s.parts {
		if p.tracker == nil || (only != nil && !only[k]) || (only == nil && p.revoking) {
			continue
		}
		s.updateLagLocked(p)
		pos := p.tracker.Snapshot()
		if pos.offset <= p.committed {
			continue
		}
		if offsets[k.topic] == nil {
			offsets[k.topic] = map[int32]kgo.EpochOffset{}
		}
		offsets[k.topic][k.partition] = kgo.EpochOffset{Epoch: pos.epoch, Offset: pos.offset}
		n++
	}
	s.mu.Unlock()
	if n == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, commitTimeout)
	defer cancel()
	var failed error
	cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			failed = err
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, t := range resp.Topics {
			for _, rp := range t.Partitions {
				if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
					failed = fmt.Errorf("topic %s partition %d: %w", t.Topic, rp.Partition, err)
					continue
				}
				if p := s.parts[tp{t.Topic, rp.Partition}]; p != nil {
					p.committed = max(p.committed, offsets[t.Topic][rp.Partition].Offset)
				}
			}
		}
	})
	if failed != nil {
		s.ins.commits.WithLabelValues("error").Inc()
		s.ins.commitErr.Inc()
		s.commit.Fail("committing offsets failed; retrying (a restart would read the uncommitted events again)",
			reasonOf(failed), failed, 0)
		return
	}
	s.ins.commits.WithLabelValues("ok").Inc()
	s.commit.End("committing offsets works again")
	s.apiProgress()
}

// onAssigned is franz-go's OnPartitionsAssigned: the partitions start with
// no record read.
func (s *Source) onAssigned(_ context.Context, _ *kgo.Client, assigned map[string][]int32) {
	s.mu.Lock()
	n := 0
	for topic, ps := range assigned {
		for _, p := range ps {
			k := tp{topic, p}
			if s.parts[k] == nil {
				s.parts[k] = &partition{tp: k, committed: -1, fetched: -1, hwm: -1}
				n++
			}
		}
	}
	s.ins.assigned.Set(float64(len(s.parts)))
	s.mu.Unlock()
	if n == 0 {
		return
	}
	s.ins.rebalances.WithLabelValues("assigned").Inc()
	s.log.Info("partitions assigned", "partitions", describe(assigned))
	s.apiProgress()
}

// onRevoked is franz-go's OnPartitionsRevoked: it stops fetching the
// partitions, waits up to revoke_timeout for their emitted batches,
// commits what was acknowledged and forgets them.
func (s *Source) onRevoked(ctx context.Context, cl *kgo.Client, revoked map[string][]int32) {
	if len(revoked) == 0 {
		return
	}
	s.ins.rebalances.WithLabelValues("revoked").Inc()
	if s.closing.Load() {
		return
	}
	cl.PauseFetchPartitions(revoked)
	// Paused partitions stay paused across assignments: resume them once
	// they are released, so that a later assignment fetches them.
	defer cl.ResumeFetchPartitions(revoked)
	only := map[tp]bool{}
	var trackers []*checkpoint.Tracker[position]
	s.mu.Lock()
	for topic, ps := range revoked {
		for _, p := range ps {
			k := tp{topic, p}
			if part := s.parts[k]; part != nil {
				part.revoking = true
				only[k] = true
				if part.tracker != nil {
					trackers = append(trackers, part.tracker)
				}
			}
		}
	}
	s.mu.Unlock()
	wctx, cancel := context.WithTimeout(ctx, s.cfg.RevokeTimeout)
	for _, t := range trackers {
		if t.Wait(wctx) != nil {
			break
		}
	}
	cancel()
	left := 0
	for _, t := range trackers {
		left += t.PendingBatches()
	}
	s.commitOffsets(ctx, cl, only)
	s.mu.Lock()
	s.forgetLocked(only)
	s.mu.Unlock()
	if left > 0 {
		s.log.Warn("partitions released with batches still unacknowledged after revoke_timeout; their next owner reads them again",
			"partitions", describe(revoked), "batches", left, "revoke_timeout", s.cfg.RevokeTimeout)
		return
	}
	s.log.Info("partitions released", "partitions", describe(revoked))
}

// onLost is franz-go's OnPartitionsLost: the group session ended (it
// expired, or the member was fenced); the partitions are forgotten without
// a commit, which could not succeed.
func (s *Source) onLost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	if len(lost) == 0 {
		return
	}
	s.ins.rebalances.WithLabelValues("lost").Inc()
	only := map[tp]bool{}
	for topic, ps := range lost {
		for _, p := range ps {
			only[tp{topic, p}] = true
		}
	}
	s.mu.Lock()
	s.forgetLocked(only)
	s.mu.Unlock()
	s.log.Warn("partitions lost with the group session; their next owner reads what was not committed again",
		"partitions", describe(lost))
}

// forgetLocked drops the state of the partitions in only (all when nil).
// Acknowledgements that still arrive for them are ignored. The caller holds
// mu.
func (s *Source) forgetLocked(only map[tp]bool) {
	for k, p := range s.parts {
		if only != nil && !only[k] {
			continue
		}
		if p.lag != nil {
			s.ins.lag.DeleteLabelValues(k.topic, strconv.Itoa(int(k.partition)))
		}
		delete(s.parts, k)
	}
	s.ins.assigned.Set(float64(len(s.parts)))
}

// Close waits until the emitted batches are acknowledged or ctx ends,
// commits the acknowledged offsets and leaves the group. When ctx has
// ended, the commit and the leave still get a short grace (closeGrace
// each), so that what was acknowledged is not read again.
func (s *Source) Close(ctx context.Context) error {
	s.mu.Lock()
	cl := s.cl
	var trackers []*checkpoint.Tracker[position]
	for _, p := range s.parts {
		if p.tracker != nil {
			trackers = append(trackers, p.tracker)
		}
	}
	s.mu.Unlock()
	if cl == nil {
		return nil
	}
	var err error
	for _, t := range trackers {
		if err = t.Wait(ctx); err != nil {
			err = fmt.Errorf("waiting for acknowledgements: %w", err)
			break
		}
	}
	// The revoke that leaving the group calls has nothing left to wait
	// for or commit: this commit is the last.
	s.closing.Store(true)
	defer s.closing.Store(false)
	cctx, cancel := context.WithTimeout(graceful(ctx), closeCommitTimeout)
	s.commitOffsets(cctx, cl, nil)
	cancel()
	lctx, cancel := context.WithTimeout(graceful(ctx), closeGrace)
	if lerr := cl.LeaveGroupContext(lctx); lerr != nil {
		s.log.Warn("leaving the consumer group did not finish; the group hands the partitions over after session_timeout",
			"error", lerr, "session_timeout", s.cfg.SessionTimeout)
	}
	cancel()
	cl.Close()
	s.mu.Lock()
	s.cl = nil
	s.forgetLocked(nil)
	s.mu.Unlock()
	return err
}

// closeGrace bounds the final commit and the leave of a Close whose
// context has ended; closeCommitTimeout the final commit in any case (with
// brokers that do not answer, stopping must not wait for long).
const (
	closeGrace         = 2 * time.Second
	closeCommitTimeout = 5 * time.Second
)

// graceful returns ctx, or a context of closeGrace when ctx has ended.
func graceful(ctx context.Context) context.Context {
	if ctx.Err() == nil {
		return ctx
	}
	gctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeGrace)
	context.AfterFunc(gctx, cancel)
	return gctx
}

func describe(tps map[string][]int32) string {
	topics := make([]string, 0, len(tps))
	for t := range tps {
		topics = append(topics, t)
	}
	slices.Sort(topics)
	var b strings.Builder
	for i, t := range topics {
		if i > 0 {
			b.WriteByte(' ')
		}
		ps := slices.Clone(tps[t])
		slices.Sort(ps)
		b.WriteString(t)
		b.WriteByte('[')
		for j, p := range ps {
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.Itoa(int(p)))
		}
		b.WriteByte(']')
	}
	return b.String()
}

// apiFail reports a failure to reach the brokers or the group.
func (s *Source) apiFail(connect bool, msg string, err error, attrs ...any) {
	s.apiMu.Lock()
	if s.api.Failures() == 0 {
		s.apiConnect = connect
	} else if !connect {
		s.apiConnect = false
	}
	s.apiMu.Unlock()
	reason := "unreachable"
	if !connect {
		reason = reasonOf(err)
	}
	s.api.Fail(msg, reason, err, 0, attrs...)
}

// apiProgress ends a run of API failures: the group works (records
// arrived, partitions were assigned, offsets were committed).
func (s *Source) apiProgress() {
	if s.api.Failures() > 0 {
		s.api.End("the Kafka brokers and the consumer group work again")
	}
}

// reasonOf is the short reason of an error: the Kafka error's name in
// lower case, "unreachable" for network errors.
func reasonOf(err error) string {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return strings.ToLower(ke.Message)
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return "unreachable"
	}
	return "error"
}

// hooks receives franz-go's connection and group events.
type hooks struct{ s *Source }

// OnBrokerConnect reports failed connections; a successful one ends a run
// of failures that began with a failed connection.
func (h hooks) OnBrokerConnect(meta kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	s := h.s
	if err != nil {
		s.ins.connectErr.Inc()
		s.apiFail(true, "cannot reach a Kafka broker; retrying", err,
			"broker", net.JoinHostPort(meta.Host, strconv.Itoa(int(meta.Port))))
		return
	}
	s.apiMu.Lock()
	connectOnly := s.apiConnect
	s.apiMu.Unlock()
	if connectOnly {
		s.apiProgress()
	}
}

// OnGroupManageError reports a group session that failed (join, sync,
// heartbeat or offset fetch).
func (h hooks) OnGroupManageError(err error) {
	if errors.Is(err, context.Canceled) || errors.Is(err, kgo.ErrClientClosed) {
		return
	}
	h.s.apiFail(false, "the consumer group session failed; joining again", err)
}
