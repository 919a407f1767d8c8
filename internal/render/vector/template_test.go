package vector

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeTemplates(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// A user's template replaces the built-in one and gets the data and the
// quoting functions.
func TestUserTemplates(t *testing.T) {
	dir := writeTemplates(t, map[string]string{
		AllocTemplate: `# {{ .AllocID }} {{ .Namespace }}
{{- range .Tasks }}
[sources.{{ tomlKey .Source }}]
type = "file"
include = [{{ range .Include }}{{ toml . }}, {{ end }}]
exclude = [{{ range .Exclude }}{{ toml . }}, {{ end }}]

[transforms.{{ tomlKey .Transform }}]
type = "remap"
inputs = [{{ toml .Source }}]
source = {{ tomlMultiline (printf "%s\n.team = %s" .VRL (vrl "ops \"blue\"")) }}
{{- end }}
`,
	})
	cfg := testConfig("/out", FormatTOML)
	cfg.TemplatesDir = dir
	r, err := NewRenderer(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	g := fixtureGroups(t)[idQuoted]
	f, ok, err := r.Alloc(&g)
	if err != nil || !ok {
		t.Fatalf("ok %v err %v", ok, err)
	}
	if !strings.HasPrefix(string(f.Data), "# "+idQuoted+" edge\n") {
		t.Errorf("the user's template was not used:\n%s", f.Data)
	}
	vf := parseVectorFile(t, FormatTOML, f.Data)
	tr := vf.Transforms[cfg.Names().Transform(idQuoted, "api")]
	if !strings.HasSuffix(tr.Source, "\n.team = \"ops \\\"blue\\\"\"") {
		t.Errorf("program: %q", tr.Source)
	}
	// No placeholder.tmpl: no placeholder, even when it is on.
	if _, ok, err := r.Placeholder(); ok || err != nil {
		t.Errorf("placeholder without its template: ok %v err %v", ok, err)
	}
}

func TestUserTemplateErrors(t *testing.T) {
	cases := []struct {
		name  string
		files map[string]string
		want  string // in the error of NewRenderer or Alloc
	}{
		{"missing alloc.tmpl", map[string]string{PlaceholderTemplate: "x = 1\n"}, "alloc.tmpl"},
		{"parse error", map[string]string{AllocTemplate: "{{ .AllocID "}, "parsing template"},
		{"unknown field", map[string]string{AllocTemplate: "x = {{ .Nope }}\n"}, "Nope"},
		{"invalid TOML", map[string]string{AllocTemplate: "x = {{ .AllocID }}\n"}, "not valid TOML"},
		{"unquoted value", map[string]string{AllocTemplate: "x = \"{{ (index .Tasks 0).Nomad }}\"\n"}, "not valid TOML"},
	}
	for _, c := range cases {
		cfg := testConfig("/out", FormatTOML)
		cfg.TemplatesDir = writeTemplates(t, c.files)
		r, err := NewRenderer(&cfg)
		if err == nil {
			g := fixtureGroups(t)[idQuoted]
			_, _, err = r.Alloc(&g)
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one that says %q", c.name, err, c.want)
		}
	}
}

// A YAML template whose output is not YAML is refused too.
func TestYAMLSyntaxChecked(t *testing.T) {
	cfg := testConfig("/out", FormatYAML)
	cfg.TemplatesDir = writeTemplates(t, map[string]string{AllocTemplate: "sources: [\n"})
	r, err := NewRenderer(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	g := fixtureGroups(t)[idBatch]
	if _, _, err := r.Alloc(&g); err == nil || !strings.Contains(err.Error(), "not valid YAML") {
		t.Errorf("err = %v", err)
	}
}

func TestAllocWithoutFile(t *testing.T) {
	cfg := testConfig("/out", FormatTOML)
	r, err := NewRenderer(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	g := fixtureGroups(t)[idBatch]
	g.Targets = nil
	if _, ok, err := r.Alloc(&g); ok || err != nil {
		t.Errorf("no targets: ok %v err %v", ok, err)
	}
	g = fixtureGroups(t)[idBatch]
	g.AllocID = "../../etc/cron.d/x"
	if _, ok, err := r.Alloc(&g); ok || err != nil {
		t.Errorf("an ID that is no UUID: ok %v err %v", ok, err)
	}
	cfg.Placeholder = false
	r, _ = NewRenderer(&cfg)
	if _, ok, err := r.Placeholder(); ok || err != nil {
		t.Errorf("placeholder = false: ok %v err %v", ok, err)
	}
}
