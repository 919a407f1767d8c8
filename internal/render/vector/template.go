package vector

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"text/template"

	"github.com/BurntSushi/toml"
	"go.yaml.in/yaml/v3"
)

//go:embed templates/*.tmpl
var builtin embed.FS

// Names of the templates in a templates_dir.
const (
	AllocTemplate       = "alloc.tmpl"
	PlaceholderTemplate = "placeholder.tmpl"
)

// Templates render the files of one format: the built-in templates, or a
// user's from a templates_dir.
type Templates struct {
	format      string
	alloc       *template.Template
	placeholder *template.Template // nil: the placeholder is not written
}

// Funcs returns the functions templates can call, for quoting raw strings
// in the output's languages:
//
//	toml          TOMLString: a TOML basic string
//	tomlKey       TOMLKey: a bare or quoted TOML key
//	tomlMultiline TOMLMultiline: a TOML multi-line basic string
//	yaml          YAMLString: a YAML double-quoted scalar
//	yamlBlock     YAMLBlock: a YAML literal block (string, indent)
//	vrl           VRLString: a VRL string literal
//	glob          GlobEscape: a glob that matches the string literally
func Funcs() template.FuncMap {
	return template.FuncMap{
		"toml":          TOMLString,
		"tomlKey":       TOMLKey,
		"tomlMultiline": TOMLMultiline,
		"yaml":          YAMLString,
		"yamlBlock":     YAMLBlock,
		"vrl":           VRLString,
		"glob":          GlobEscape,
	}
}

// LoadTemplates returns the templates of a format ("toml" or "yaml"). With
// dir "" they are the built-in ones; otherwise dir/alloc.tmpl (required)
// and dir/placeholder.tmpl (optional: without it no placeholder is
// written) replace them. Templates are Go text/templates that receive an
// *AllocData or a *PlaceholderData and may call Funcs.
func LoadTemplates(format, dir string) (*Templates, error) {
	if format != FormatTOML && format != FormatYAML {
		return nil, fmt.Errorf("unknown output format %q", format)
	}
	t := &Templates{format: format}
	if dir == "" {
		var err error
		if t.alloc, err = parseTemplate(builtin, "templates/alloc."+format+".tmpl"); err != nil {
			return nil, err
		}
		if t.placeholder, err = parseTemplate(builtin, "templates/placeholder."+format+".tmpl"); err != nil {
			return nil, err
		}
		return t, nil
	}
	fsys := os.DirFS(dir)
	var err error
	if t.alloc, err = parseTemplate(fsys, AllocTemplate); err != nil {
		return nil, fmt.Errorf("templates_dir %s: %w", dir, err)
	}
	if t.placeholder, err = parseTemplate(fsys, PlaceholderTemplate); err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("templates_dir %s: %w", dir, err)
		}
		t.placeholder = nil
	}
	return t, nil
}

func parseTemplate(fsys fs.FS, name string) (*template.Template, error) {
	src, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, fmt.Errorf("reading template %s: %w", name, err)
	}
	tmpl, err := template.New(filepath.Base(name)).Funcs(Funcs()).Option("missingkey=error").Parse(string(src))
	if err != nil {
		return nil, fmt.Errorf("parsing template: %w", err)
	}
	return tmpl, nil
}

// Format is the output format, "toml" or "yaml".
func (t *Templates) Format() string { return t.format }

// HasPlaceholder reports whether there is a placeholder template.
func (t *Templates) HasPlaceholder() bool { return t.placeholder != nil }

// Alloc renders the file of an allocation. The output is checked with a
// TOML or YAML parser: a template that produces invalid syntax is an
// error, never a file Vector would refuse.
func (t *Templates) Alloc(d *AllocData) ([]byte, error) {
	out, err := t.execute(t.alloc, d)
	if err != nil {
		return nil, fmt.Errorf("rendering allocation %s: %w", d.AllocID, err)
	}
	return out, nil
}

// Placeholder renders the placeholder file; it is an error to call it
// when HasPlaceholder is false.
func (t *Templates) Placeholder(d *PlaceholderData) ([]byte, error) {
	if t.placeholder == nil {
		return nil, errors.New("rendering the placeholder: there is no placeholder template")
	}
	out, err := t.execute(t.placeholder, d)
	if err != nil {
		return nil, fmt.Errorf("rendering the placeholder: %w", err)
	}
	return out, nil
}

func (t *Templates) execute(tmpl *template.Template, data any) ([]byte, error) {
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, data); err != nil {
		return nil, fmt.Errorf("template %s: %w", tmpl.Name(), err)
	}
	if buf.Len() > 0 && buf.Bytes()[buf.Len()-1] != '\n' {
		buf.WriteByte('\n')
	}
	if err := CheckSyntax(t.format, buf.Bytes()); err != nil {
		return nil, fmt.Errorf("template %s: %w", tmpl.Name(), err)
	}
	return buf.Bytes(), nil
}

// CheckSyntax parses a rendered file as TOML or YAML; its top level must
// be a table (mapping).
func CheckSyntax(format string, data []byte) error {
	var top map[string]any
	switch format {
	case FormatTOML:
		if err := toml.Unmarshal(data, &top); err != nil {
			return fmt.Errorf("output is not valid TOML: %w", err)
		}
	case FormatYAML:
		if err := yaml.Unmarshal(data, &top); err != nil {
			return fmt.Errorf("output is not valid YAML: %w", err)
		}
	default:
		return fmt.Errorf("unknown output format %q", format)
	}
	return nil
}
