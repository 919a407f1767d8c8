package vector

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Escapers for the languages of a rendered file. Every one of them first
// replaces invalid UTF-8 with U+FFFD (TOML, YAML and VRL sources are UTF-8
// text), then quotes the string so that the language's parser reads back
// exactly that valid string. The fuzz tests check the round trip through
// real TOML and YAML parsers and through VRL's string literal rules.
//
// The TOML and YAML escapers never write a raw '$' nor "SECRET[": Vector
// replaces $NAME, ${NAME} and $$ in the text of a configuration file
// before parsing it (before 0.57 by default, later only with
// --dangerously-allow-env-var-interpolation), and SECRET[backend.key]
// whenever a secret backend is configured. Values come from job authors:
// unescaped, a meta value could make Vector put its environment or a
// secret into that job's events. No escape of '$' means the same with and
// without the pass; an escaped character (\u0024 in TOML, \x24 in YAML;
// the '[' after SECRET likewise) is not seen by it and reads back the same
// in both cases.

// secretMarker is the start of Vector's secret references, SECRET[...].
const secretMarker = "SECRET"

// secretBracket reports whether s[i] is a '[' that would complete
// "SECRET[" (the letters before it are never escaped).
func secretBracket(s string, i int) bool {
	return s[i] == '[' && strings.HasSuffix(s[:i], secretMarker)
}

// TOMLString returns s as a TOML basic string, quotes included: " and \
// are escaped, and so are the control characters (U+0000 to U+001F and
// U+007F) that TOML forbids raw, '$', and the '[' of "SECRET[".
func TOMLString(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	s = strings.ToValidUTF8(s, "\uFFFD")
	for i, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		default:
			writeTOMLRune(&b, r, secretBracket(s, i))
		}
	}
	b.WriteByte('"')
	return b.String()
}

// TOMLMultiline returns s as a TOML multi-line basic string ("""..."""),
// for long text such as a VRL program: newlines and tabs stay as they are,
// a '"' is escaped only where it would follow another '"' or end the
// text (so no run of quotes can close the string), and everything else is
// escaped as in TOMLString. The opening quotes are followed by a newline,
// which TOML trims; the closing quotes stand on a line of their own after
// a line-ending backslash, which TOML trims with the newline.
func TOMLMultiline(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	b.Grow(len(s) + 10)
	b.WriteString("\"\"\"\n")
	rawQuote := false // the last character written is a raw '"'
	for i, r := range s {
		quote := false
		switch r {
		case '"':
			if rawQuote || i == len(s)-1 {
				b.WriteString(`\"`)
			} else {
				b.WriteByte('"')
				quote = true
			}
		case '\\':
			b.WriteString(`\\`)
		case '\n', '\t':
			b.WriteRune(r)
		default:
			writeTOMLRune(&b, r, secretBracket(s, i))
		}
		rawQuote = quote
	}
	b.WriteString("\\\n\"\"\"")
	return b.String()
}

// writeTOMLRune writes r, escaping the control characters TOML forbids,
// '$', and a '[' that follows "SECRET" (escape set).
func writeTOMLRune(b *strings.Builder, r rune, escape bool) {
	switch {
	case r == '\r':
		b.WriteString(`\r`)
	case r < 0x20 || r == 0x7f || r == '$' || escape:
		b.WriteString(`\u00`)
		b.WriteByte(hexDigit(byte(r) >> 4))
		b.WriteByte(hexDigit(byte(r) & 0xf))
	default:
		b.WriteRune(r)
	}
}

// TOMLKey returns k as a TOML key: bare when it is made of ASCII letters,
// digits, '_' and '-' only, else a quoted basic string.
func TOMLKey(k string) string {
	if k != "" && isBareKey(k) {
		return k
	}
	return TOMLString(k)
}

func isBareKey(k string) bool {
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// YAMLString returns s as a YAML double-quoted scalar, quotes included.
// '$' and the '[' of "SECRET[" are escaped, and so is everything YAML does not allow raw in a
// double-quoted scalar, or that a
// YAML 1.1 parser (libyaml, which Vector's YAML loader is built on) reads
// as a line break or a byte order mark, is escaped: control characters,
// DEL, C1 controls, U+2028, U+2029, U+FEFF, U+FFFE and U+FFFF.
func YAMLString(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	s = strings.ToValidUTF8(s, "\uFFFD")
	for i, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		case '\r':
			b.WriteString(`\r`)
		case 0:
			b.WriteString(`\0`)
		case '$':
			b.WriteString(`\x24`)
		default:
			if yamlPrintable(r) && !secretBracket(s, i) {
				b.WriteRune(r)
				continue
			}
			if r <= 0xff {
				b.WriteString(`\x`)
				b.WriteByte(hexDigit(byte(r) >> 4))
				b.WriteByte(hexDigit(byte(r) & 0xf))
				continue
			}
			b.WriteString(`\u`)
			h := strconv.FormatUint(uint64(r), 16)
			b.WriteString(strings.Repeat("0", 4-len(h)))
			b.WriteString(h)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// yamlPrintable reports whether r may stand raw in a double-quoted scalar
// and in a literal block scalar without being read as something else.
func yamlPrintable(r rune) bool {
	switch {
	case r >= 0x20 && r <= 0x7e:
		return true
	case r == 0xfeff: // a byte order mark
		return false
	case r >= 0xa0 && r <= 0xd7ff, r >= 0xe000 && r <= 0xfffd, r >= 0x10000 && r <= utf8.MaxRune:
		return r != 0x2028 && r != 0x2029
	}
	return false
}

// YAMLBlock returns s as a YAML literal block scalar ("|-" and the lines
// of s, each indented by indent spaces) when s can be written that way:
// every line printable (tabs allowed), no '$' nor "SECRET[" (a block
// cannot escape them), the first line that is not empty not starting
// with a space or a tab (it sets the indentation), no line of blanks
// only, s not ending with a newline. Otherwise it returns YAMLString(s),
// which holds anything. indent is the indentation of the scalar's lines,
// deeper than the key that holds it.
func YAMLBlock(s string, indent int) string {
	if !yamlBlockable(s) {
		return YAMLString(s)
	}
	pad := strings.Repeat(" ", indent)
	var b strings.Builder
	b.Grow(len(s) + 16)
	b.WriteString("|-")
	for _, line := range strings.Split(s, "\n") {
		b.WriteByte('\n')
		if line != "" {
			b.WriteString(pad)
			b.WriteString(line)
		}
	}
	return b.String()
}

func yamlBlockable(s string) bool {
	if s == "" || !utf8.ValidString(s) || strings.HasSuffix(s, "\n") || strings.Contains(s, secretMarker+"[") {
		return false
	}
	first := true
	for _, line := range strings.Split(s, "\n") {
		if line == "" {
			continue
		}
		if strings.Trim(line, " \t") == "" {
			return false // a line of blanks could be read as indentation
		}
		if first && (line[0] == ' ' || line[0] == '\t') {
			return false
		}
		first = false
		for _, r := range line {
			if r == '$' || r != '\t' && !yamlPrintable(r) {
				return false
			}
		}
	}
	return true
}

// VRLString returns s as a VRL string literal, quotes included. VRL
// string literals know the escapes \\ \" \' \n \r \t \0 \{ \}; '{' and '}'
// are escaped because "{{ ... }}" in a literal is a template. Every other
// character, control characters included, stands for itself between the
// quotes (VRL's \u{...} escape is recent and not used).
func VRLString(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case 0:
			b.WriteString(`\0`)
		case '{':
			b.WriteString(`\{`)
		case '}':
			b.WriteString(`\}`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// GlobEscape returns s with the characters that Vector's file source
// globs (Rust's glob crate) give a meaning to, * ? [ ], each put in a
// character class of its own, so that the pattern matches s literally.
// The glob crate has no backslash escape; brackets are its only quoting.
func GlobEscape(s string) string {
	if !strings.ContainsAny(s, "*?[]") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for _, r := range s {
		switch r {
		case '*', '?', '[', ']':
			b.WriteByte('[')
			b.WriteRune(r)
			b.WriteByte(']')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func hexDigit(n byte) byte { return "0123456789ABCDEF"[n&0xf] }
