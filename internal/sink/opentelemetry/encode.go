package opentelemetry

import (
	"strings"
	"sync"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/drover-dev/drover/internal/event"
)

// ScopeName is the instrumentation scope of every log record drover sends.
const ScopeName = "drover"

// encoder turns the events of a request into OTLP logs: one ResourceLogs
// per stream (per shared Meta), its attributes from the metadata following
// the OpenTelemetry semantic conventions, one LogRecord per event.
type encoder struct {
	body          string
	severityField string

	// resources caches the resource attributes of each Meta.
	mu        sync.Mutex
	resources map[*event.Meta]pcommon.Map
}

// maxResources bounds the resource cache; past it the cache starts over.
const maxResources = 4096

func newEncoder(body, severityField string) *encoder {
	return &encoder{body: body, severityField: severityField, resources: map[*event.Meta]pcommon.Map{}}
}

// encode returns the logs of events, which yields index and event in
// order.
func (e *encoder) encode(events func(yield func(int, *event.Event) bool), observed pcommon.Timestamp) plog.Logs {
	logs := plog.NewLogs()
	rls := logs.ResourceLogs()
	byMeta := map[*event.Meta]plog.LogRecordSlice{}
	var last *event.Meta
	var lastRecs plog.LogRecordSlice
	for _, ev := range events {
		recs := lastRecs
		if ev.Meta != last || last == nil {
			var ok bool
			if recs, ok = byMeta[ev.Meta]; !ok {
				rl := rls.AppendEmpty()
				e.resource(ev.Meta).CopyTo(rl.Resource().Attributes())
				sl := rl.ScopeLogs().AppendEmpty()
				sl.Scope().SetName(ScopeName)
				recs = sl.LogRecords()
				byMeta[ev.Meta] = recs
			}
			last, lastRecs = ev.Meta, recs
		}
		e.record(recs.AppendEmpty(), ev, observed)
	}
	return logs
}

// resource returns the resource attributes of m, cached.
func (e *encoder) resource(m *event.Meta) pcommon.Map {
	e.mu.Lock()
	defer e.mu.Unlock()
	if r, ok := e.resources[m]; ok {
		return r
	}
	r := resourceAttributes(m)
	if len(e.resources) >= maxResources {
		clear(e.resources)
	}
	e.resources[m] = r
	return r
}

// resourceAttributes maps drover's metadata to resource attributes:
//
//	nomad.task_name, kubernetes.container_name -> service.name
//	host                                        -> host.name
//	kubernetes.namespace, pod_name, pod_uid,
//	  container_name, node_name                 -> k8s.namespace.name, k8s.pod.name,
//	                                               k8s.pod.uid, k8s.container.name, k8s.node.name
//	nomad.<field>, nomad.meta.<key>             -> nomad.<field>, nomad.meta.<key>
//	source_type                                 -> drover.source_type
//
// The per-stream fields "file" and "stream" are record attributes
// (log.file.path, log.iostream); other metadata fields keep their name.
func resourceAttributes(m *event.Meta) pcommon.Map {
	attrs := pcommon.NewMap()
	if m == nil || m.Fields == nil {
		return attrs
	}
	for _, f := range m.Fields.All() {
		switch f.Key {
		case "host":
			attrs.PutStr("host.name", f.Value.Str())
		case "source_type":
			attrs.PutStr("drover.source_type", f.Value.Str())
		case "file", "stream":
			// record attributes
		case "nomad":
			if o := f.Value.Object(); o != nil {
				if v, ok := o.Get("task_name"); ok {
					attrs.PutStr("service.name", v.Str())
				}
				flatten(attrs, "nomad.", o)
			}
		case "kubernetes":
			if o := f.Value.Object(); o != nil {
				for _, kf := range o.All() {
					switch kf.Key {
					case "namespace", "namespace_name":
						attrs.PutStr("k8s.namespace.name", kf.Value.Str())
					case "pod_name":
						attrs.PutStr("k8s.pod.name", kf.Value.Str())
					case "pod_uid":
						attrs.PutStr("k8s.pod.uid", kf.Value.Str())
					case "container_name":
						attrs.PutStr("k8s.container.name", kf.Value.Str())
						attrs.PutStr("service.name", kf.Value.Str())
					case "node_name":
						attrs.PutStr("k8s.node.name", kf.Value.Str())
					default:
						flattenValue(attrs, "k8s."+kf.Key, kf.Value)
					}
				}
			}
		default:
			flattenValue(attrs, f.Key, f.Value)
		}
	}
	return attrs
}

// flatten puts the fields of o under prefix, nested objects with dotted
// keys.
func flatten(attrs pcommon.Map, prefix string, o *event.Fields) {
	for _, f := range o.All() {
		flattenValue(attrs, prefix+f.Key, f.Value)
	}
}

func flattenValue(attrs pcommon.Map, key string, v event.Value) {
	if v.Kind() == event.KindObject {
		flatten(attrs, key+".", v.Object())
		return
	}
	putValue(attrs.PutEmpty(key), v)
}

// putValue sets dst to v.
func putValue(dst pcommon.Value, v event.Value) {
	switch v.Kind() {
	case event.KindString, event.KindBytes:
		dst.SetStr(v.Str())
	case event.KindInt:
		dst.SetInt(v.Int())
	case event.KindFloat:
		dst.SetDouble(v.Float())
	case event.KindBool:
		dst.SetBool(v.Bool())
	case event.KindTime:
		dst.SetStr(string(v.AppendText(nil)))
	case event.KindObject:
		m := dst.SetEmptyMap()
		for _, f := range v.Object().All() {
			putValue(m.PutEmpty(f.Key), f.Value)
		}
	case event.KindRawJSON:
		dst.SetStr(string(v.AppendText(nil)))
	}
}

// record fills one LogRecord from ev.
func (e *encoder) record(lr plog.LogRecord, ev *event.Event, observed pcommon.Timestamp) {
	lr.SetTimestamp(pcommon.NewTimestampFromTime(ev.Timestamp))
	lr.SetObservedTimestamp(observed)
	attrs := lr.Attributes()
	if ev.Meta != nil && ev.Meta.Fields != nil {
		if v, ok := ev.Meta.Fields.Lookup("file"); ok {
			attrs.PutStr("log.file.path", v.Str())
		}
		if v, ok := ev.Meta.Fields.Lookup("stream"); ok {
			attrs.PutStr("log.iostream", v.Str())
		}
	}
	if e.severityField != "" {
		if v, ok := ev.Get(e.severityField); ok {
			text := string(v.AppendText(nil))
			lr.SetSeverityText(text)
			lr.SetSeverityNumber(severity(text))
		}
	}
	switch e.body {
	case BodyFields:
		m := lr.Body().SetEmptyMap()
		m.PutStr("message", string(ev.Message))
		for _, f := range ev.Fields.All() {
			putValue(m.PutEmpty(f.Key), f.Value)
		}
	default:
		lr.Body().SetStr(string(ev.Message))
		for _, f := range ev.Fields.All() {
			flattenValue(attrs, f.Key, f.Value)
		}
	}
	if ev.Flags&event.Truncated != 0 {
		attrs.PutBool("drover.truncated", true)
	}
	if ev.Flags&event.Partial != 0 {
		attrs.PutBool("drover.partial", true)
	}
}

// severity maps a level's text to OTLP's severity number: the usual names
// of logging libraries and syslog, in any case; unknown text gives
// SeverityNumberUnspecified.
func severity(level string) plog.SeverityNumber {
	switch strings.ToLower(strings.TrimSpace(level)) {
	case "trace", "trc", "finest", "verbose":
		return plog.SeverityNumberTrace
	case "debug", "dbg", "fine", "finer", "7":
		return plog.SeverityNumberDebug
	case "info", "inf", "information", "informational", "notice", "6", "5":
		return plog.SeverityNumberInfo
	case "warn", "warning", "wrn", "4":
		return plog.SeverityNumberWarn
	case "error", "err", "eror", "3":
		return plog.SeverityNumberError
	case "fatal", "critical", "crit", "panic", "emerg", "emergency", "alert", "ftl", "0", "1", "2":
		return plog.SeverityNumberFatal
	}
	return plog.SeverityNumberUnspecified
}
