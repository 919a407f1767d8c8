// Package docs holds drover's documentation. Its test checks every HCL
// block in the documentation and the README, so that an example that does
// not parse, or a configuration drover would refuse, cannot be published.
//
// How a block is checked depends on its info string:
//
//	```hcl            a whole drover configuration: it must load and
//	                  validate as `drover validate` loads it, with every
//	                  component type (env("NAME") gives "example-NAME")
//	```hcl fragment   part of a configuration (a block, some attributes,
//	                  placeholders such as <type>): it must be valid HCL
//	```hcl vector     a `drover vector` configuration: it must load and
//	                  validate as `drover vector render --config` loads it
//	```hcl nomad      a Nomad job or agent configuration: valid HCL
//
// Code blocks of other languages are not checked.
package docs

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2/hclparse"

	"github.com/drover-dev/drover/internal/config"
	_ "github.com/drover-dev/drover/internal/plugins"
	"github.com/drover-dev/drover/internal/render/vector"
)

// block is one fenced HCL code block.
type block struct {
	file string
	line int // of the first line of the block's content
	kind string
	text string
}

// hclBlocks returns the fenced code blocks of a Markdown file whose info
// string starts with "hcl".
func hclBlocks(t *testing.T, path string) []block {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		out    []block
		cur    *block
		indent string
		body   strings.Builder
		n      int
	)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		n++
		line := sc.Text()
		trimmed := strings.TrimLeft(line, " ")
		switch {
		case cur == nil && strings.HasPrefix(trimmed, "```"):
			info := strings.Fields(strings.TrimPrefix(trimmed, "```"))
			if len(info) == 0 || info[0] != "hcl" {
				// Another language: skip to its end.
				cur = &block{kind: "skip"}
			} else {
				kind := "config"
				if len(info) > 1 {
					kind = info[1]
				}
				cur = &block{file: path, line: n + 1, kind: kind}
			}
			indent = line[:len(line)-len(trimmed)]
			body.Reset()
		case cur != nil && strings.HasPrefix(trimmed, "```"):
			if cur.kind != "skip" {
				cur.text = body.String()
				out = append(out, *cur)
			}
			cur = nil
		case cur != nil:
			body.WriteString(strings.TrimPrefix(line, indent))
			body.WriteByte('\n')
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if cur != nil {
		t.Errorf("%s: a code block is not closed", path)
	}
	return out
}

// exampleEnv resolves env("NAME") to "example-NAME", and leaves the
// DROVER_ variables unset (the built-in defaults apply).
func exampleEnv(name string) (string, bool) {
	if strings.HasPrefix(name, "DROVER_") {
		return "", false
	}
	return "example-" + name, true
}

func markdownFiles(t *testing.T) []string {
	t.Helper()
	files := []string{"../README.md"}
	for _, pattern := range []string{"*.md", "components/*.md"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	return files
}

func TestEveryHCLBlockInTheDocs(t *testing.T) {
	env := exampleEnv
	counts := map[string]int{}
	for _, file := range markdownFiles(t) {
		for _, b := range hclBlocks(t, file) {
			counts[b.kind]++
			where := b.file + ":" + itoa(b.line)
			switch b.kind {
			case "config":
				// Line numbers in errors are the block's; add b.line-1 to
				// find them in the file.
				if _, err := config.Load(where, []byte(b.text), env); err != nil {
					t.Errorf("%s: a whole configuration that drover refuses (mark a partial one ```hcl fragment):\n%v", where, err)
				}
			case "vector":
				if _, err := vector.Load(where, []byte(b.text), env, nil); err != nil {
					t.Errorf("%s: a drover vector configuration that drover refuses:\n%v", where, err)
				}
			case "fragment", "nomad":
				if _, diags := hclparse.NewParser().ParseHCL([]byte(b.text), where); diags.HasErrors() {
					t.Errorf("%s: not valid HCL: %v", where, diags)
				}
			default:
				t.Errorf("%s: unknown kind ```hcl %s (want nothing, fragment, vector or nomad)", where, b.kind)
			}
		}
	}
	t.Logf("HCL blocks checked: %d whole configurations, %d fragments, %d vector configurations, %d Nomad files",
		counts["config"], counts["fragment"], counts["vector"], counts["nomad"])
	if counts["config"] == 0 {
		t.Fatal("no whole configuration found: the scanner is broken")
	}
}

func TestTheScannerFindsBlocks(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x.md")
	os.WriteFile(p, []byte("text\n```sh\nls\n```\n- item\n\n  ```hcl fragment\n  a = 1\n  ```\n\n```hcl\nb = 2\n```\n"), 0o644)
	got := hclBlocks(t, p)
	if len(got) != 2 || got[0].kind != "fragment" || got[0].text != "a = 1\n" || got[0].line != 8 ||
		got[1].kind != "config" || got[1].text != "b = 2\n" || got[1].line != 12 {
		t.Fatalf("%+v", got)
	}
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for n >= 10 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	i--
	b[i] = byte('0' + n)
	return string(b[i:])
}

// TestJobspecConfigurations loads the drover configuration each Nomad job
// in deploy/nomad renders (its local/drover.hcl template), with Nomad's
// interpolations replaced by sample values: the jobs must not drift from
// what drover accepts.
func TestJobspecConfigurations(t *testing.T) {
	jobs, err := filepath.Glob("../deploy/nomad/*.nomad.hcl")
	if err != nil || len(jobs) == 0 {
		t.Fatalf("no jobs: %v", err)
	}
	secrets := t.TempDir()
	if err := os.WriteFile(filepath.Join(secrets, "admin-token"), []byte("0123456789abcdef0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tmpl := regexp.MustCompile(`(?s)destination\s*=\s*"local/drover\.hcl".*?<<-EOT\n(.*?)\n\s*EOT`)
	samples := strings.NewReplacer(
		`${var.sink_uri}`, "https://collector.example/ingest",
		`${var.data_dir}`, filepath.Join(t.TempDir(), "data"),
		`{{ env "NOMAD_ADDR_admin" }}`, "10.0.0.1:7688",
		`{{ env "NOMAD_SECRETS_DIR" }}`, secrets,
		`[[ env "NOMAD_ADDR_admin" ]]`, "10.0.0.1:7688",
		`[[ env "NOMAD_ALLOC_INDEX" ]]`, "0",
		`${jsonencode(var.brokers)}`, `["kafka-1:9092"]`,
		`${var.clickhouse}`, "http://clickhouse.example:8123",
		`${var.loki}`, "http://loki.example:3100",
		`"/secrets/`, `"`+secrets+`/`,
	)
	// Nomad's interpolations and template actions ({{ }} or [[ ]]) that
	// are left; drover's own {{ field }} templates are fine.
	leftover := regexp.MustCompile(`\$\{|\{\{ *env |\[\[`)
	for _, job := range jobs {
		b, err := os.ReadFile(job)
		if err != nil {
			t.Fatal(err)
		}
		m := tmpl.FindSubmatch(b)
		if m == nil {
			t.Errorf("%s: no local/drover.hcl template", job)
			continue
		}
		text := samples.Replace(dedent(string(m[1])))
		if loc := leftover.FindStringIndex(text); loc != nil {
			t.Errorf("%s: an interpolation the test has no sample for: %q", job, text[loc[0]:min(loc[0]+40, len(text))])
			continue
		}
		cfg, err := config.Load(job+" (template)", []byte(text), exampleEnv)
		if err != nil {
			t.Errorf("%s: drover refuses the configuration the job renders:\n%v\n%s", job, err, text)
			continue
		}
		if cfg.Admin.Token == "" || len(cfg.Admin.Unauthenticated) == 0 {
			t.Errorf("%s: the admin endpoint has no token, or Nomad's checks need one: %+v", job, cfg.Admin)
		}
	}
}

// dedent removes the indentation the first line has from every line (a
// heredoc's <<- does the same).
func dedent(s string) string {
	lines := strings.Split(s, "\n")
	indent := lines[0][:len(lines[0])-len(strings.TrimLeft(lines[0], " "))]
	for i, l := range lines {
		lines[i] = strings.TrimPrefix(l, indent)
	}
	return strings.Join(lines, "\n")
}
