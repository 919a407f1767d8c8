package vector

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/drover-dev/drover/internal/checkpoint"
)

// Dir is the output directory that Vector watches. It changes and removes
// only drover's own files (Names.Owned); every other file in it is left
// alone, whatever happens.
type Dir struct {
	path  string
	names Names
}

// Modes of the output directory (when drover creates it) and its files:
// Vector often runs as another user and must read them.
const (
	dirMode  = 0o755
	fileMode = 0o644
)

// OpenDir returns the output directory, creating it when missing.
func OpenDir(path string, names Names) (*Dir, error) {
	if err := os.MkdirAll(path, dirMode); err != nil {
		return nil, fmt.Errorf("creating the Vector configuration directory %s: %w", path, err)
	}
	return &Dir{path: path, names: names}, nil
}

// Path returns the directory's path.
func (d *Dir) Path() string { return d.path }

// OwnedFile is one of drover's files found in the directory.
type OwnedFile struct {
	Name string
	// Key is the allocation ID, or "placeholder".
	Key    string
	Format string
	// Temp marks the leftover temporary file of an interrupted write.
	Temp bool
}

// Owned lists drover's files in the directory, sorted by name. Files that
// Names.Owned does not recognise, directories and symlinks are not listed.
func (d *Dir) Owned() ([]OwnedFile, error) {
	entries, err := os.ReadDir(d.path)
	if err != nil {
		return nil, fmt.Errorf("listing the Vector configuration directory %s: %w", d.path, err)
	}
	var out []OwnedFile
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		key, format, temp, ok := d.names.Owned(e.Name())
		if !ok {
			continue
		}
		out = append(out, OwnedFile{Name: e.Name(), Key: key, Format: format, Temp: temp})
	}
	return out, nil
}

// Write replaces the file name with data, atomically (a temporary file in
// the directory, fsync, rename), unless it holds exactly data already: an
// unchanged file is not touched, so Vector does not reload for nothing.
// It reports whether it wrote. name must be one of drover's names.
func (d *Dir) Write(name string, data []byte) (bool, error) {
	if _, _, temp, ok := d.names.Owned(name); !ok || temp {
		return false, fmt.Errorf("refusing to write %s: not a name drover owns", name)
	}
	path := filepath.Join(d.path, name)
	old, err := os.ReadFile(path)
	if err == nil && bytes.Equal(old, data) {
		return false, nil
	}
	if err := checkpoint.WriteAtomic(path, data, fileMode, false); err != nil {
		return false, fmt.Errorf("writing Vector configuration %s: %w", path, err)
	}
	return true, nil
}

// Remove removes the file name; a missing file is not an error. name
// must be one of drover's names.
func (d *Dir) Remove(name string) error {
	if _, _, _, ok := d.names.Owned(name); !ok {
		return fmt.Errorf("refusing to remove %s: not a name drover owns", name)
	}
	path := filepath.Join(d.path, name)
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing Vector configuration %s: %w", path, err)
	}
	return nil
}

// Plan says what the directory should hold.
type Plan struct {
	// Write are the files to hold, by key (allocation ID or
	// "placeholder").
	Write map[string]File
	// Keep are keys whose files stay as they are (allocations in their
	// grace period whose contents are not known).
	Keep map[string]bool
	// Placeholder, when not nil, is written if no allocation has a file
	// once the plan is applied.
	Placeholder *File
}

// Report says what applying a plan did.
type Report struct {
	Written []string
	Removed []string
	// Files are the names of drover's files in the directory afterwards.
	Files []string
}

// Apply makes the directory hold what the plan says, in an order that
// never leaves Vector without a file it needs nor with two files that
// define the same components:
//
//  1. a key's files in another format (or another name) are removed
//     before the key's file is written;
//  2. files are written (the placeholder too, when it is needed);
//  3. drover's files that the plan neither writes nor keeps, the
//     placeholder when it is not needed and temporary leftovers are
//     removed.
//
// It stops at the first error; applying the plan again goes on.
func (d *Dir) Apply(p Plan) (Report, error) {
	// The directory may have been removed since OpenDir.
	if err := os.MkdirAll(d.path, dirMode); err != nil {
		return Report{}, fmt.Errorf("creating the Vector configuration directory %s: %w", d.path, err)
	}
	owned, err := d.Owned()
	if err != nil {
		return Report{}, err
	}
	var rep Report
	write := make(map[string]File, len(p.Write)+1)
	for k, f := range p.Write {
		write[k] = f
	}
	if p.Placeholder != nil && !hasAllocFiles(owned, write, p.Keep) {
		write[placeholderKey] = *p.Placeholder
	}
	remove := func(name string) error {
		if err := d.Remove(name); err != nil {
			return err
		}
		rep.Removed = append(rep.Removed, name)
		return nil
	}
	for _, o := range owned { // 1
		if f, ok := write[o.Key]; ok && !o.Temp && o.Name != f.Name {
			if err := remove(o.Name); err != nil {
				return rep, err
			}
		}
	}
	keys := make([]string, 0, len(write))
	for k := range write {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys { // 2
		f := write[k]
		wrote, err := d.Write(f.Name, f.Data)
		if err != nil {
			return rep, err
		}
		if wrote {
			rep.Written = append(rep.Written, f.Name)
		}
	}
	for _, o := range owned { // 3
		_, w := write[o.Key]
		if o.Temp || !w && !p.Keep[o.Key] {
			if err := remove(o.Name); err != nil {
				return rep, err
			}
		}
	}
	after, err := d.Owned()
	if err != nil {
		return rep, err
	}
	for _, o := range after {
		rep.Files = append(rep.Files, o.Name)
	}
	return rep, nil
}

// hasAllocFiles reports whether an allocation will have a file once a
// plan is applied: one it writes, or a kept one that exists.
func hasAllocFiles(owned []OwnedFile, write map[string]File, keep map[string]bool) bool {
	for k := range write {
		if k != placeholderKey {
			return true
		}
	}
	for _, o := range owned {
		if !o.Temp && o.Key != placeholderKey && keep[o.Key] {
			return true
		}
	}
	return false
}
