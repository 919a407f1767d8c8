package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/drover-dev/drover/internal/buildinfo"
)

// processMetrics are drover's own, not a component's.
type processMetrics struct {
	reloads           *prometheus.CounterVec
	lastReloadSuccess prometheus.Gauge
	lastReloadOK      prometheus.Gauge
}

func (r *Registry) registerProcess() {
	bi := buildinfo.Get()
	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "build_info",
		Help: "Always 1; the labels say which drover runs: version, revision (git commit), goversion, goos/goarch."},
		[]string{"version", "revision", "goversion", "platform"})
	info.WithLabelValues(bi.Version, bi.Commit, bi.GoVersion, bi.Platform).Set(1)
	r.reg.MustRegister(info)

	p := &r.process
	p.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "config_reloads_total",
		Help: "Configuration reloads (SIGHUP), by result: success, or failure (the running configuration stayed)."},
		[]string{"result"})
	p.reloads.WithLabelValues("success")
	p.reloads.WithLabelValues("failure")
	p.lastReloadSuccess = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "config_last_reload_success_timestamp_seconds",
		Help: "When the running configuration was loaded: at start or by the last successful reload (Unix time)."})
	p.lastReloadOK = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "config_last_reload_successful",
		Help: "1 when the last load of the configuration (start or reload) succeeded, 0 when the last reload failed."})
	r.reg.MustRegister(p.reloads, p.lastReloadSuccess, p.lastReloadOK)
}

// ConfigLoaded records a load of the configuration at the given time: the
// one at start (reload false, always a success), or a reload.
func (r *Registry) ConfigLoaded(reload, ok bool, at time.Time) {
	p := &r.process
	if reload {
		result := "success"
		if !ok {
			result = "failure"
		}
		p.reloads.WithLabelValues(result).Inc()
	}
	if ok {
		p.lastReloadSuccess.Set(float64(at.UnixNano()) / 1e9)
		p.lastReloadOK.Set(1)
	} else {
		p.lastReloadOK.Set(0)
	}
}
