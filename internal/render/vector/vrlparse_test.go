package vector

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// A reader of the VRL subset the renderer writes, following the rules of
// VRL's lexer (vectordotdev/vrl src/parser/lex.rs): a string literal ends
// at the first unescaped '"'; the escapes are \n \' \" \\ n r t { } 0 and
// \<newline>; "{{" outside an escape starts a template (an error here: a
// rendered literal must be literal), "\{{" and "\}}" stand for "{{" and
// "}}"; then the literal's escapes are replaced.

// readVRLString reads a string literal at the start of src and returns
// its value and the rest of src.
func readVRLString(src string) (value, rest string, err error) {
	if !strings.HasPrefix(src, `"`) {
		return "", "", fmt.Errorf("no string literal at %.20q", src)
	}
	i := 1
	for {
		j := strings.IndexAny(src[i:], `"\`)
		if j < 0 {
			return "", "", errors.New("unterminated string literal")
		}
		i += j
		if src[i] == '"' {
			break
		}
		if i+1 >= len(src) {
			return "", "", errors.New("escape at the end of the input")
		}
		switch src[i+1] {
		case '\n', '\'', '"', '\\', 'n', 'r', 't', '{', '}', '0':
			i += 2
		default:
			return "", "", fmt.Errorf("invalid escape \\%c", src[i+1])
		}
	}
	content := src[1:i]
	value, err = vrlTemplateLiteral(content)
	return value, src[i+1:], err
}

// vrlTemplateLiteral applies VRL's template splitting to a literal's raw
// content; it fails when the content holds a template.
func vrlTemplateLiteral(content string) (string, error) {
	chars := []rune(content)
	var cur []rune
	at := func(p int) rune {
		if p < len(chars) {
			return chars[p]
		}
		return 0
	}
	for pos := 0; pos < len(chars); {
		switch c := chars[pos]; {
		case c == '\\' && at(pos+1) == '{' && at(pos+2) == '{':
			cur = append(cur, '{', '{')
			pos += 3
		case c == '\\' && at(pos+1) == '}' && at(pos+2) == '}':
			cur = append(cur, '}', '}')
			pos += 3
		case c == '{' && at(pos+1) == '{':
			return "", fmt.Errorf("template in string literal %q", content)
		default:
			cur = append(cur, c)
			pos++
		}
	}
	return vrlUnescape(string(cur)), nil
}

// vrlUnescape is VRL's unescape_string_literal.
func vrlUnescape(s string) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '\\')
		if i < 0 || i+1 >= len(s) {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		next := s[i+1]
		if next == '\n' {
			rest := strings.TrimLeftFunc(s[i+2:], unicode.IsSpace)
			s = rest
			continue
		}
		b.WriteByte(map[byte]byte{'\'': '\'', '"': '"', '\\': '\\', 'n': '\n', 'r': '\r', 't': '\t', '0': 0, '{': '{', '}': '}'}[next])
		s = s[i+2:]
	}
}

// readVRLObject reads an object literal as the renderer writes it:
// string keys, values that are string literals, integers or objects,
// members separated by commas and newlines, a trailing comma allowed.
func readVRLObject(src string) (map[string]any, string, error) {
	src = strings.TrimLeft(src, " \n")
	if !strings.HasPrefix(src, "{") {
		return nil, "", fmt.Errorf("no object at %.20q", src)
	}
	src = src[1:]
	out := map[string]any{}
	for {
		src = strings.TrimLeft(src, " \n")
		if strings.HasPrefix(src, "}") {
			return out, src[1:], nil
		}
		key, rest, err := readVRLString(src)
		if err != nil {
			return nil, "", fmt.Errorf("object key: %w", err)
		}
		rest, ok := strings.CutPrefix(strings.TrimLeft(rest, " "), ":")
		if !ok {
			return nil, "", fmt.Errorf("no ':' after key %q", key)
		}
		rest = strings.TrimLeft(rest, " ")
		var v any
		switch {
		case strings.HasPrefix(rest, `"`):
			v, rest, err = readVRLString(rest)
		case strings.HasPrefix(rest, "{"):
			v, rest, err = readVRLObject(rest)
		default:
			end := strings.IndexAny(rest, ",\n}")
			if end < 0 {
				return nil, "", errors.New("unterminated object")
			}
			v, err = strconv.ParseInt(strings.TrimSpace(rest[:end]), 10, 64)
			rest = rest[end:]
		}
		if err != nil {
			return nil, "", fmt.Errorf("value of %q: %w", key, err)
		}
		if _, dup := out[key]; dup {
			return nil, "", fmt.Errorf("duplicate key %q", key)
		}
		out[key] = v
		src = strings.TrimLeft(rest, " ")
		src = strings.TrimPrefix(src, ",")
	}
}

// remapParts reads the program remapProgram writes: the .nomad object
// and the stdout path prefix of the .stream line, with the other stream.
type remapParts struct {
	nomad        map[string]any
	stdoutPrefix string
	otherStream  string
}

func readRemap(program string) (remapParts, error) {
	rest, ok := strings.CutPrefix(program, ".nomad = ")
	if !ok {
		return remapParts{}, errors.New("program does not start with .nomad = ")
	}
	obj, rest, err := readVRLObject(rest)
	if err != nil {
		return remapParts{}, err
	}
	p := remapParts{nomad: obj}
	rest, ok = strings.CutPrefix(rest, "\n.stream = if starts_with(string!(.file), ")
	if !ok {
		return remapParts{}, fmt.Errorf("unexpected .stream line: %.60q", rest)
	}
	if p.stdoutPrefix, rest, err = readVRLString(rest); err != nil {
		return remapParts{}, err
	}
	rest, ok = strings.CutPrefix(rest, `) { "stdout" } else { `)
	if !ok {
		return remapParts{}, fmt.Errorf("unexpected if expression: %.60q", rest)
	}
	if p.otherStream, rest, err = readVRLString(rest); err != nil {
		return remapParts{}, err
	}
	if rest != " }" {
		return remapParts{}, fmt.Errorf("unexpected end of program: %q", rest)
	}
	return p, nil
}
