package metrics

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// DefaultFileSeriesLimit is how many files of one component get a
// drover_file_bytes_behind series of their own by default.
const DefaultFileSeriesLimit = 100

// OtherFiles is the file label of the series that sums the files beyond
// the limit.
const OtherFiles = "_other"

// SetFileSeriesLimit sets how many files of each component get a
// drover_file_bytes_behind series of their own; the unread bytes of the
// others are summed in one series with file="_other", so that a node with
// thousands of log files does not make thousands of series. 0 puts every
// file in "_other". A new limit applies to the files opened from then on.
func (r *Registry) SetFileSeriesLimit(n int) { r.files.limit.Store(int64(max(n, 0))) }

// fileSeries keeps the per-file series of every component, by component
// (an instance rebuilt by a reload shares its predecessor's).
type fileSeries struct {
	vec   *prometheus.GaugeVec
	limit atomic.Int64

	mu    sync.Mutex
	comps map[[2]string]*componentFiles
}

func (f *fileSeries) init(vec *prometheus.GaugeVec) {
	f.vec = vec
	f.limit.Store(DefaultFileSeriesLimit)
	f.comps = map[[2]string]*componentFiles{}
}

func (f *fileSeries) of(c *Component) *componentFiles {
	k := [2]string{c.labels["component_kind"], c.labels["component_id"]}
	f.mu.Lock()
	defer f.mu.Unlock()
	cf := f.comps[k]
	if cf == nil {
		cf = &componentFiles{f: f, c: c, named: map[string]prometheus.Gauge{}, other: map[string]*otherShare{}}
		f.comps[k] = cf
	}
	return cf
}

// componentFiles are one component's files: those with a series of their
// own, and those summed in "_other".
type componentFiles struct {
	f *fileSeries
	c *Component

	mu    sync.Mutex
	named map[string]prometheus.Gauge
	other map[string]*otherShare
	sum   prometheus.Gauge // the "_other" series, while it has files
}

func (cf *componentFiles) behind(file string) prometheus.Gauge {
	cf.mu.Lock()
	defer cf.mu.Unlock()
	if g, ok := cf.named[file]; ok {
		return g
	}
	if s, ok := cf.other[file]; ok {
		return s
	}
	if int64(len(cf.named)) < cf.f.limit.Load() {
		g := cf.f.vec.With(cf.c.with("file", file))
		cf.named[file] = g
		return g
	}
	if cf.sum == nil {
		cf.sum = cf.f.vec.With(cf.c.with("file", OtherFiles))
	}
	s := &otherShare{sum: cf.sum}
	cf.other[file] = s
	return s
}

func (cf *componentFiles) forget(file string) {
	cf.mu.Lock()
	defer cf.mu.Unlock()
	if _, ok := cf.named[file]; ok {
		delete(cf.named, file)
		cf.f.vec.Delete(cf.c.with("file", file))
		return
	}
	s, ok := cf.other[file]
	if !ok {
		return
	}
	delete(cf.other, file)
	s.drop()
	if len(cf.other) == 0 {
		cf.f.vec.Delete(cf.c.with("file", OtherFiles))
		cf.sum = nil
	}
}

// otherShare is one file's part of the "_other" series: setting it moves
// the sum by the difference.
type otherShare struct {
	sum prometheus.Gauge

	mu      sync.Mutex
	v       float64
	dropped bool
}

func (s *otherShare) Set(v float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dropped {
		return
	}
	s.sum.Add(v - s.v)
	s.v = v
}

// drop takes the share out of the sum for good.
func (s *otherShare) drop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sum.Sub(s.v)
	s.v, s.dropped = 0, true
}

func (s *otherShare) value() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.v
}

func (s *otherShare) Inc()              { s.Add(1) }
func (s *otherShare) Dec()              { s.Add(-1) }
func (s *otherShare) Sub(v float64)     { s.Add(-v) }
func (s *otherShare) Add(v float64)     { s.Set(s.value() + v) }
func (s *otherShare) SetToCurrentTime() { s.Set(float64(time.Now().UnixNano()) / 1e9) }

// Desc, Describe and Collect are those of the "_other" series (the sum);
// Write writes the share's own value.
func (s *otherShare) Desc() *prometheus.Desc              { return s.sum.Desc() }
func (s *otherShare) Describe(ch chan<- *prometheus.Desc) { s.sum.Describe(ch) }
func (s *otherShare) Collect(ch chan<- prometheus.Metric) { s.sum.Collect(ch) }
func (s *otherShare) Write(m *dto.Metric) error {
	v := s.value()
	m.Gauge = &dto.Gauge{Value: &v}
	return nil
}
