package vector

import (
	"errors"
	"strings"
	"testing"
)

// A port of the pattern language of Rust's glob crate (rust-lang/glob
// src/lib.rs, Pattern::new and matches_from), which Vector's file source
// uses with the default MatchOptions: case sensitive, '*' and '?' match
// '/' too, no special leading dot. '**' is rejected here: the renderer
// never writes it.

type globToken struct {
	kind   byte // 'c' char, '?' any char, '*' any sequence, '[' within, '!' except
	char   rune
	ranges [][2]rune
}

func compileRustGlob(p string) ([]globToken, error) {
	chars := []rune(p)
	var out []globToken
	for i := 0; i < len(chars); {
		switch chars[i] {
		case '?':
			out = append(out, globToken{kind: '?'})
			i++
		case '*':
			if i+1 < len(chars) && chars[i+1] == '*' {
				return nil, errors.New("recursive wildcard")
			}
			out = append(out, globToken{kind: '*'})
			i++
		case '[':
			if i+4 <= len(chars) && chars[i+1] == '!' {
				if j := indexRune(chars[i+3:], ']'); j >= 0 {
					out = append(out, globToken{kind: '!', ranges: charSpecs(chars[i+2 : i+3+j])})
					i += j + 4
					continue
				}
			} else if i+3 <= len(chars) && chars[i+1] != '!' {
				if j := indexRune(chars[i+2:], ']'); j >= 0 {
					out = append(out, globToken{kind: '[', ranges: charSpecs(chars[i+1 : i+2+j])})
					i += j + 3
					continue
				}
			}
			return nil, errors.New("invalid range pattern")
		default:
			out = append(out, globToken{kind: 'c', char: chars[i]})
			i++
		}
	}
	return out, nil
}

func indexRune(rs []rune, r rune) int {
	for i, c := range rs {
		if c == r {
			return i
		}
	}
	return -1
}

func charSpecs(s []rune) [][2]rune {
	var out [][2]rune
	for i := 0; i < len(s); {
		if i+3 <= len(s) && s[i+1] == '-' {
			out = append(out, [2]rune{s[i], s[i+2]})
			i += 3
		} else {
			out = append(out, [2]rune{s[i], s[i]})
			i++
		}
	}
	return out
}

func inSpecs(specs [][2]rune, c rune) bool {
	for _, r := range specs {
		if c >= r[0] && c <= r[1] {
			return true
		}
	}
	return false
}

func matchTokens(toks []globToken, s []rune) bool {
	for ti, t := range toks {
		if t.kind == '*' {
			for k := 0; k <= len(s); k++ {
				if matchTokens(toks[ti+1:], s[k:]) {
					return true
				}
			}
			return false
		}
		if len(s) == 0 {
			return false
		}
		c := s[0]
		ok := false
		switch t.kind {
		case '?':
			ok = true
		case 'c':
			ok = c == t.char
		case '[':
			ok = inSpecs(t.ranges, c)
		case '!':
			ok = !inSpecs(t.ranges, c)
		}
		if !ok {
			return false
		}
		s = s[1:]
	}
	return len(s) == 0
}

// rustGlobMatch reports whether the whole path matches the pattern.
func rustGlobMatch(t testing.TB, pattern, path string) bool {
	t.Helper()
	toks, err := compileRustGlob(pattern)
	if err != nil {
		t.Fatalf("pattern %q: %v", pattern, err)
	}
	return matchTokens(toks, []rune(path))
}

// vectorSelects reports whether a file source with these include and
// exclude patterns reads path.
func vectorSelects(t testing.TB, include, exclude []string, path string) bool {
	t.Helper()
	in := false
	for _, p := range include {
		in = in || rustGlobMatch(t, p, path)
	}
	for _, p := range exclude {
		if rustGlobMatch(t, p, path) {
			return false
		}
	}
	return in
}

func TestRustGlobPort(t *testing.T) {
	cases := []struct {
		pattern, path string
		want          bool
	}{
		{"a*b", "a/x/b", true}, // '*' crosses '/' with the default options
		{"a?c", "abc", true},
		{"[!0-9]", "a", true},
		{"[!0-9]", "5", false},
		{"[]]", "]", true},
		{"[[]", "[", true},
		{"x.[0-9]*", "x.1y", true},
		{"x.*[!0-9]*", "x.12", false},
		{"x.*[!0-9]*", "x.1y", true},
	}
	for _, c := range cases {
		if got := rustGlobMatch(t, c.pattern, c.path); got != c.want {
			t.Errorf("match(%q, %q) = %v, want %v", c.pattern, c.path, got, c.want)
		}
	}
	if _, err := compileRustGlob("a[b"); err == nil || !strings.Contains(err.Error(), "range") {
		t.Errorf("unclosed class: %v", err)
	}
}
