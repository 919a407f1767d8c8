package vector

import (
	"fmt"

	"github.com/drover-dev/drover/internal/discovery/nomad"
)

// SourceID is the Source of the metadata the renderer's discovery builds
// (it is not written anywhere).
const SourceID = "vector_render"

// File is one file of the output directory: its base name and contents.
type File struct {
	Name string
	Data []byte
}

// Renderer turns allocation groups into Vector configuration files.
type Renderer struct {
	names        Names
	tmpl         *Templates
	maxLineBytes int64
	outDir       string
	placeholder  bool
}

// NewRenderer returns a renderer for a validated configuration; it loads
// the templates (built-in, or the templates_dir's).
func NewRenderer(cfg *Config) (*Renderer, error) {
	tmpl, err := LoadTemplates(cfg.Format, cfg.TemplatesDir)
	if err != nil {
		return nil, err
	}
	return &Renderer{
		names:        cfg.Names(),
		tmpl:         tmpl,
		maxLineBytes: int64(cfg.MaxLineBytes),
		outDir:       cfg.OutDir,
		placeholder:  cfg.Placeholder && tmpl.HasPlaceholder(),
	}, nil
}

// Names returns the renderer's file and component names.
func (r *Renderer) Names() Names { return r.names }

// Format returns the output format.
func (r *Renderer) Format() string { return r.tmpl.Format() }

// Alloc renders the file of an allocation's group. ok is false when the
// group has no targets (nothing to read) or its allocation ID is not a
// UUID (it could not name a file safely): such an allocation has no file.
func (r *Renderer) Alloc(g *nomad.Group) (f File, ok bool, err error) {
	if !IsAllocID(g.AllocID) {
		return File{}, false, nil
	}
	d, ok, err := allocData(g, r.names, r.maxLineBytes)
	if err != nil || !ok {
		return File{}, false, err
	}
	data, err := r.tmpl.Alloc(&d)
	if err != nil {
		return File{}, false, err
	}
	return File{Name: r.names.AllocFile(g.AllocID, r.Format()), Data: data}, true, nil
}

// Placeholder renders the placeholder file; ok is false when the
// configuration turns it off or the templates_dir has no placeholder
// template.
func (r *Renderer) Placeholder() (f File, ok bool, err error) {
	if !r.placeholder {
		return File{}, false, nil
	}
	d := placeholderData(r.names, r.outDir)
	data, err := r.tmpl.Placeholder(&d)
	if err != nil {
		return File{}, false, fmt.Errorf("vector placeholder: %w", err)
	}
	return File{Name: r.names.PlaceholderFile(r.Format()), Data: data}, true, nil
}
