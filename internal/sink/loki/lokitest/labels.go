package lokitest

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

var labelName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// ParseLabels parses a stream selector as Loki reads the labels of a
// pushed stream: {name="value", ...} with values in Go string literal
// syntax. It fails on a malformed selector, an invalid name, a repeated
// name and an empty set.
func ParseLabels(s string) (map[string]string, error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(s), "{")
	if !ok {
		return nil, fmt.Errorf("labels %q: no opening brace", s)
	}
	out := map[string]string{}
	for {
		rest = strings.TrimLeft(rest, " ")
		if r, ok := strings.CutPrefix(rest, "}"); ok {
			if strings.TrimSpace(r) != "" {
				return nil, fmt.Errorf("labels %q: text after the closing brace", s)
			}
			break
		}
		if len(out) > 0 {
			r, ok := strings.CutPrefix(rest, ",")
			if !ok {
				return nil, fmt.Errorf("labels %q: no comma between labels", s)
			}
			rest = strings.TrimLeft(r, " ")
		}
		name, r, ok := strings.Cut(rest, "=")
		if !ok || !labelName.MatchString(name) {
			return nil, fmt.Errorf("labels %q: invalid label name %q", s, name)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("labels %q: duplicate label %q", s, name)
		}
		end := quotedEnd(r)
		if end < 0 {
			return nil, fmt.Errorf("labels %q: unterminated value of %q", s, name)
		}
		v, err := strconv.Unquote(r[:end])
		if err != nil {
			return nil, fmt.Errorf("labels %q: value of %q: %w", s, name, err)
		}
		out[name] = v
		rest = r[end:]
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("labels %q: at least one label pair is required per stream", s)
	}
	return out, nil
}

// quotedEnd returns the length of the double-quoted literal at the start of
// s, or -1.
func quotedEnd(s string) int {
	if !strings.HasPrefix(s, `"`) {
		return -1
	}
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return -1
}

// FormatLabels formats labels the way Loki prints a stream: sorted by
// name, {a="x", b="y"}.
func FormatLabels(m map[string]string) string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	var b strings.Builder
	b.WriteByte('{')
	for i, n := range names {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(n)
		b.WriteByte('=')
		b.WriteString(strconv.Quote(m[n]))
	}
	b.WriteByte('}')
	return b.String()
}
