package vector

import (
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
	"go.yaml.in/yaml/v3"
)

// tricky are strings that broke or could break quoting: quotes, escapes,
// templates, newlines, control characters, YAML and TOML syntax, line
// separators, invalid UTF-8.
var tricky = []string{
	"",
	"plain",
	`say "hi"`,
	`back\slash`,
	`\n is not a newline`,
	"two\nlines",
	"cr\rlf\r\n",
	"tab\there",
	"{{ .message }}",
	`\{{ escaped }}`,
	"{ single } braces",
	"}}{{",
	"nul\x00byte",
	"bell\x07 del\x7f esc\x1b",
	"c1\u0085\u0080\u009f",
	"line\u2028para\u2029",
	"\ufeffbom",
	"\ufffe\uffff",
	"'''",
	`"""`,
	`""""""`,
	"# not a comment",
	"key: value",
	"- item",
	"[table]",
	"*?[]!{}",
	"null",
	"true",
	"0x10",
	"  leading spaces",
	"trailing spaces  ",
	"\tleading tab",
	"ünïcödé ✓ 日本語 𝄞",
	"invalid \xff\xfe utf-8",
	"ends with backslash\\",
	"ends with quote\"",
	"$HOME and ${HOME} and $$ and ${X:?boom} and $",
	"SECRET[vault.db_password] SECRET[ SECRETS[x.y] SECRET[[",
}

func valid(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }

func tomlRoundTrip(t testing.TB, quoted string) string {
	t.Helper()
	var v struct{ V string }
	if _, err := toml.Decode("V = "+quoted+"\n", &v); err != nil {
		t.Fatalf("TOML does not parse V = %s: %v", quoted, err)
	}
	return v.V
}

func yamlRoundTrip(t testing.TB, doc string) string {
	t.Helper()
	var v struct {
		V string `yaml:"v"`
	}
	if err := yaml.Unmarshal([]byte(doc), &v); err != nil {
		t.Fatalf("YAML does not parse %q: %v", doc, err)
	}
	return v.V
}

func checkEscapes(t testing.TB, s string) {
	t.Helper()
	want := valid(s)
	if got := tomlRoundTrip(t, TOMLString(s)); got != want {
		t.Errorf("TOMLString(%q) reads back as %q", s, got)
	}
	if q := TOMLString(s); strings.ContainsAny(q, "\n\r") {
		t.Errorf("TOMLString(%q) = %q spans lines", s, q)
	}
	if got := tomlRoundTrip(t, TOMLMultiline(s)); got != want {
		t.Errorf("TOMLMultiline(%q) reads back as %q", s, got)
	}
	var keys map[string]int
	if _, err := toml.Decode(TOMLKey(s)+" = 1\n", &keys); err != nil {
		t.Errorf("TOMLKey(%q) = %s does not parse: %v", s, TOMLKey(s), err)
	} else if _, ok := keys[want]; !ok || len(keys) != 1 {
		t.Errorf("TOMLKey(%q) reads back as %v", s, keys)
	}
	if got := yamlRoundTrip(t, "v: "+YAMLString(s)+"\n"); got != want {
		t.Errorf("YAMLString(%q) reads back as %q", s, got)
	}
	var nested struct {
		A struct {
			V string `yaml:"v"`
			W int    `yaml:"w"`
		} `yaml:"a"`
	}
	doc := "a:\n  v: " + YAMLBlock(s, 4) + "\n  w: 1\n"
	if err := yaml.Unmarshal([]byte(doc), &nested); err != nil {
		t.Errorf("YAMLBlock(%q) does not parse: %v\n%s", s, err, doc)
	} else if nested.A.V != want || nested.A.W != 1 {
		t.Errorf("YAMLBlock(%q) reads back as %q (w=%d)\n%s", s, nested.A.V, nested.A.W, doc)
	}
	// Vector replaces $NAME, ${NAME} (before 0.57) and SECRET[b.k] in a
	// file's text before parsing it: no quoted value may hold them raw.
	for _, q := range []string{TOMLString(s), TOMLMultiline(s), TOMLKey(s), YAMLString(s), YAMLBlock(s, 4)} {
		if strings.Contains(q, "$") || strings.Contains(q, "SECRET[") {
			t.Errorf("quoted %q holds a raw '$' or SECRET[: %s", s, q)
		}
	}
	lit := VRLString(s)
	got, rest, err := readVRLString(lit)
	if err != nil || rest != "" || got != want {
		t.Errorf("VRLString(%q) = %s reads back as %q, rest %q, err %v", s, lit, got, rest, err)
	}
	// A VRL program inside a TOML multi-line string: both layers hold.
	prog := tomlRoundTrip(t, TOMLMultiline(".x = "+lit))
	got, _, err = readVRLString(strings.TrimPrefix(prog, ".x = "))
	if err != nil || got != want {
		t.Errorf("VRL literal of %q inside TOML reads back as %q (%v)", s, got, err)
	}
}

func TestEscapesRoundTrip(t *testing.T) {
	for _, s := range tricky {
		checkEscapes(t, s)
	}
}

func TestEscapeForms(t *testing.T) {
	cases := []struct {
		name, got, want string
	}{
		{"toml quotes", TOMLString(`a"b\c`), `"a\"b\\c"`},
		{"toml control", TOMLString("a\x01\x7fb"), `"a\u0001\u007Fb"`},
		{"toml dollar", TOMLString("${X}"), `"\u0024{X}"`},
		{"yaml dollar", YAMLString("$$"), `"\x24\x24"`},
		{"yaml block with a dollar falls back", YAMLBlock("a$", 2), `"a\x24"`},
		{"toml secret", TOMLString("SECRET[a.b] [x]"), `"SECRET\u005Ba.b] [x]"`},
		{"toml multiline secret", TOMLMultiline("SECRET[a.b]"), "\"\"\"\nSECRET\\u005Ba.b]\\\n\"\"\""},
		{"yaml secret", YAMLString("SECRET[a.b]"), `"SECRET\x5Ba.b]"`},
		{"toml multiline keeps newlines", TOMLMultiline("a\nb\"c"), "\"\"\"\na\nb\"c\\\n\"\"\""},
		{"toml multiline breaks quote runs", TOMLMultiline(`"""x""`), "\"\"\"\n\"\\\"\"x\"\\\"\\\n\"\"\""},
		{"toml bare key", TOMLKey("drover_nomad_x-1"), "drover_nomad_x-1"},
		{"toml quoted key", TOMLKey("a.b"), `"a.b"`},
		{"yaml", YAMLString("a\"\n\u2028\u0085"), `"a\"\n\u2028\x85"`},
		{"yaml block", YAMLBlock("a\n  b\n\nc", 2), "|-\n  a\n    b\n\n  c"},
		{"yaml block falls back", YAMLBlock(" a", 2), `" a"`},
		{"yaml block control falls back", YAMLBlock("a\x01", 2), `"a\x01"`},
		{"vrl", VRLString("{{ x }}\"\\\n"), `"\{\{ x \}\}\"\\\n"`},
		{"vrl keeps controls", VRLString("a\x01b"), "\"a\x01b\""},
		{"glob", GlobEscape("a*b?c[d]e"), "a[*]b[?]c[[]d[]]e"},
		{"glob plain", GlobEscape("/opt/nomad/data"), "/opt/nomad/data"},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("%s: got %s, want %s", c.name, c.got, c.want)
		}
	}
}

func TestGlobEscapeMatchesLiterally(t *testing.T) {
	for _, s := range append(tricky, "a[!b]c", "x-[0-9]*", "]]", "[[") {
		s = valid(s)
		if !rustGlobMatch(t, GlobEscape(s), s) {
			t.Errorf("GlobEscape(%q) = %q does not match itself", s, GlobEscape(s))
		}
		if s != "" && rustGlobMatch(t, GlobEscape(s), s+"x") {
			t.Errorf("GlobEscape(%q) matches more than itself", s)
		}
	}
}

func FuzzEscapes(f *testing.F) {
	for _, s := range tricky {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkEscapes(t, s)
		e := valid(s)
		if !rustGlobMatch(t, GlobEscape(e), e) {
			t.Errorf("GlobEscape(%q) does not match itself", e)
		}
	})
}
