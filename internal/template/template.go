// Package template renders strings from event fields, for values a sink
// computes per event: file paths, index names, routing keys.
//
// A template is text with field references in double braces:
//
//	logs-{{ nomad.job_name }}
//	/var/log/out/{{ host }}/{{ file }}.log
//
// A reference names a field by its dotted path, as event.Event.Get resolves
// it ("message", "timestamp", the event's fields, then its metadata).
// Spaces inside the braces are optional. There is no escape for a literal
// "{{" or "}}"; both are reserved.
//
// A reference that starts with "%" is a date of the event's timestamp, in
// UTC, with strftime's conversions %Y (2026), %y (26), %m (01-12), %d
// (01-31), %H (00-23), %M, %S, %j (day of the year, 001-366), %F
// (%Y-%m-%d) and %% (a percent sign), and any other character as it is:
//
//	logs-{{ nomad.namespace }}-{{ %Y.%m.%d }}    a daily index
//	/var/log/out/{{ %Y-%m-%d/%H }}.log            an hourly file
//
// It counts as a reference to "timestamp" (Fields); an event without a
// timestamp renders it as nothing, like a missing field.
package template

import (
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/drover-dev/drover/internal/event"
)

// Template is a parsed template. It is immutable and safe for concurrent use.
type Template struct {
	src    string
	parts  []part
	fields []string
}

// part is literal text followed by an optional field reference or date.
type part struct {
	lit   string
	field string // "" when the part is only literal text
	date  string // a date format ("%Y-%m-%d") instead of a field
}

// Error is a parse error: what is wrong and at which byte offset of the
// template text.
type Error struct {
	Template string
	Offset   int
	Msg      string
}

func (e *Error) Error() string {
	return fmt.Sprintf("template %q: %s at offset %d", e.Template, e.Msg, e.Offset)
}

// Parse parses a template. It fails on an unclosed "{{", a stray "}}", an
// empty reference ("{{ }}"), a reference with spaces or braces inside, and a
// path with an empty segment ("a..b", ".a", "a.").
func Parse(s string) (*Template, error) {
	t := &Template{src: s}
	rest, off := s, 0
	for {
		open := strings.Index(rest, "{{")
		lit := rest
		if open >= 0 {
			lit = rest[:open]
		}
		if c := strings.Index(lit, "}}"); c >= 0 {
			return nil, &Error{s, off + c, `"}}" without an opening "{{"`}
		}
		if open < 0 {
			if lit != "" {
				t.parts = append(t.parts, part{lit: lit})
			}
			return t, nil
		}
		inner := rest[open+2:]
		end := strings.Index(inner, "}}")
		if end < 0 {
			return nil, &Error{s, off + open, `unclosed "{{"`}
		}
		ref := inner[:end]
		if err := checkRef(ref); err != "" {
			return nil, &Error{s, off + open, err}
		}
		name := strings.TrimSpace(ref)
		if strings.HasPrefix(name, "%") {
			if msg := checkDate(name); msg != "" {
				return nil, &Error{s, off + open, msg}
			}
			t.parts = append(t.parts, part{lit: lit, field: "timestamp", date: name})
			t.fields = append(t.fields, "timestamp")
		} else {
			t.parts = append(t.parts, part{lit: lit, field: name})
			t.fields = append(t.fields, name)
		}
		consumed := open + 2 + end + 2
		rest, off = rest[consumed:], off+consumed
	}
}

func checkRef(ref string) string {
	name := strings.TrimSpace(ref)
	if name == "" {
		return "empty field reference"
	}
	if strings.ContainsAny(name, "{}") || strings.ContainsFunc(name, unicode.IsSpace) {
		return fmt.Sprintf("invalid field reference %q", name)
	}
	for _, seg := range strings.Split(name, ".") {
		if seg == "" {
			return fmt.Sprintf("field reference %q has an empty path segment", name)
		}
	}
	return ""
}

// MustParse is Parse for templates known to be valid; it panics on error.
func MustParse(s string) *Template {
	t, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return t
}

// String returns the template's text as it was parsed.
func (t *Template) String() string { return t.src }

// IsConstant reports whether the template references no field: it renders
// to its own text for every event.
func (t *Template) IsConstant() bool { return len(t.fields) == 0 }

// Fields returns the field paths the template references, in order of
// appearance. Callers must not modify the slice.
func (t *Template) Fields() []string { return t.fields }

// Prefix returns the literal text before the first field reference (the
// whole text of a constant template).
func (t *Template) Prefix() string {
	if len(t.parts) == 0 {
		return ""
	}
	return t.parts[0].lit
}

// Render appends the template rendered for e to dst. Field values are shown
// with event.Value.AppendText. ok is false when a referenced field is
// missing, null or an empty string: that reference renders as nothing, and
// a caller that needs every part can fall back to a default or refuse the
// event (FirstMissing names the field for its message). Render does not
// allocate when dst has room.
func (t *Template) Render(dst []byte, e *event.Event) (out []byte, ok bool) {
	ok = true
	for i := range t.parts {
		p := &t.parts[i]
		dst = append(dst, p.lit...)
		if p.field == "" {
			continue
		}
		if p.date != "" {
			if e.Timestamp.IsZero() {
				ok = false
				continue
			}
			dst = appendDate(dst, p.date, e.Timestamp.UTC())
			continue
		}
		v, found := e.Get(p.field)
		if !found || v.Kind() == event.KindNull {
			ok = false
			continue
		}
		n := len(dst)
		dst = v.AppendText(dst)
		if len(dst) == n {
			ok = false
		}
	}
	return dst, ok
}

// FirstMissing returns the path of the first referenced field that is
// missing, null or empty in e, or "" when Render would report ok.
func (t *Template) FirstMissing(e *event.Event) string {
	var scratch [64]byte
	for _, f := range t.fields {
		if f == "timestamp" && e.Timestamp.IsZero() {
			return f
		}
		v, found := e.Get(f)
		if !found || v.Kind() == event.KindNull || len(v.AppendText(scratch[:0])) == 0 {
			return f
		}
	}
	return ""
}

// checkDate checks a date format's conversions.
func checkDate(f string) string {
	for i := 0; i < len(f); i++ {
		if f[i] != '%' {
			continue
		}
		if i+1 >= len(f) {
			return fmt.Sprintf("date %q ends with a lone %%", f)
		}
		i++
		if !strings.ContainsRune("YymdHMSjF%", rune(f[i])) {
			return fmt.Sprintf("date %q: unknown conversion %%%c (known: %%Y %%y %%m %%d %%H %%M %%S %%j %%F %%%%)", f, f[i])
		}
	}
	return ""
}

// appendDate appends t formatted by a checked date format.
func appendDate(dst []byte, f string, t time.Time) []byte {
	pad := func(dst []byte, n, width int) []byte {
		var buf [8]byte
		i := len(buf)
		for n > 0 || width > 0 {
			i--
			buf[i] = byte('0' + n%10)
			n /= 10
			width--
		}
		return append(dst, buf[i:]...)
	}
	for i := 0; i < len(f); i++ {
		c := f[i]
		if c != '%' || i+1 >= len(f) {
			dst = append(dst, c)
			continue
		}
		i++
		switch f[i] {
		case 'Y':
			dst = pad(dst, t.Year(), 4)
		case 'y':
			dst = pad(dst, t.Year()%100, 2)
		case 'm':
			dst = pad(dst, int(t.Month()), 2)
		case 'd':
			dst = pad(dst, t.Day(), 2)
		case 'H':
			dst = pad(dst, t.Hour(), 2)
		case 'M':
			dst = pad(dst, t.Minute(), 2)
		case 'S':
			dst = pad(dst, t.Second(), 2)
		case 'j':
			dst = pad(dst, t.YearDay(), 3)
		case 'F':
			dst = pad(dst, t.Year(), 4)
			dst = append(dst, '-')
			dst = pad(dst, int(t.Month()), 2)
			dst = append(dst, '-')
			dst = pad(dst, t.Day(), 2)
		case '%':
			dst = append(dst, '%')
		}
	}
	return dst
}
