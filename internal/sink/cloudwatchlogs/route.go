package cloudwatchlogs

import (
	"strings"
	"unicode/utf8"

	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/sink/batch"
	"github.com/drover-dev/drover/internal/template"
)

// router names the log group and stream of each event from the templates.
// A rendered name is cleaned: characters the service does not allow become
// '_' and it is cut to 512 bytes.
type router struct {
	group, stream *template.Template
}

func newRouter(c *Config) *router {
	return &router{group: template.MustParse(c.GroupName), stream: template.MustParse(c.StreamName)}
}

// target is a log group and stream.
type target struct {
	group, stream string
}

// String names the target for logs as "group:stream" (a stream name
// cannot hold ":").
func (t target) String() string { return t.group + ":" + t.stream }

// render appends the key of e's target to dst: group, NUL, stream.
// missing names the template field that rendered empty; dst is then
// incomplete.
func (r *router) render(dst []byte, e *event.Event) (out []byte, missing string) {
	start := len(dst)
	dst, ok := r.group.Render(dst, e)
	if !ok {
		return dst, "group_name: " + r.group.FirstMissing(e)
	}
	dst = clean(dst, start, validGroupByte, false)
	dst = append(dst, 0)
	mark := len(dst)
	dst, ok = r.stream.Render(dst, e)
	if !ok {
		return dst, "stream_name: " + r.stream.FirstMissing(e)
	}
	return clean(dst, mark, validStreamByte, true), ""
}

// clean replaces the bytes of dst[from:] that valid refuses with '_' and
// cuts the name to maxNameBytes (on a UTF-8 boundary when utf8 is set;
// group names are ASCII once cleaned).
func clean(dst []byte, from int, valid func(byte) bool, keepUTF8 bool) []byte {
	name := dst[from:]
	for i, c := range name {
		if c >= utf8.RuneSelf && keepUTF8 {
			continue
		}
		if !valid(c) {
			name[i] = '_'
		}
	}
	if keepUTF8 && !utf8.Valid(name) {
		for i := 0; i < len(name); {
			r, size := utf8.DecodeRune(name[i:])
			if r == utf8.RuneError && size == 1 {
				name[i] = '_'
			}
			i += size
		}
	}
	if len(name) > maxNameBytes {
		return dst[:from+runeCut(name, maxNameBytes)]
	}
	return dst
}

func parseTarget(key string) target {
	g, s, _ := strings.Cut(key, "\x00")
	return target{group: g, stream: s}
}

// partition is the events of a request that go to one target (or that
// have none: missing says why), by index in the request.
type partition struct {
	key     string
	missing string
	idx     []int
}

// split groups the events of req by target, in order of first appearance.
// scratch is reused between calls.
func (r *router) split(req *batch.Request, scratch []byte) ([]*partition, []byte) {
	var parts []*partition
	var last *partition
	for i, e := range req.Events() {
		var missing string
		scratch, missing = r.render(scratch[:0], e)
		p := last
		if p == nil || !p.is(scratch, missing) {
			p = nil
			for _, cand := range parts {
				if cand.is(scratch, missing) {
					p = cand
					break
				}
			}
			if p == nil {
				p = &partition{missing: missing}
				if missing == "" {
					p.key = string(scratch)
				}
				parts = append(parts, p)
			}
		}
		p.idx = append(p.idx, i)
		last = p
	}
	return parts, scratch
}

func (p *partition) is(key []byte, missing string) bool {
	if p.missing != "" || missing != "" {
		return p.missing == missing
	}
	return p.key == string(key)
}
