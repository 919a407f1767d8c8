package glob

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
)

// matcher expands the include patterns and filters out the excluded paths.
type matcher struct {
	include []string // cleaned, slash-separated
	exclude []string
	// excludeRaw are the exclude patterns as configured, to name them.
	excludeRaw []string
}

func newMatcher(include, exclude []string) *matcher {
	m := &matcher{excludeRaw: exclude}
	for _, p := range include {
		m.include = append(m.include, filepath.ToSlash(filepath.Clean(p)))
	}
	for _, p := range exclude {
		m.exclude = append(m.exclude, filepath.ToSlash(filepath.Clean(p)))
	}
	return m
}

// excluded reports whether path matches an exclude pattern.
func (m *matcher) excluded(p string) bool { return m.excludedBy(p) >= 0 }

// excludedBy returns the index of the first exclude pattern that matches
// path, or -1.
func (m *matcher) excludedBy(p string) int {
	sp := filepath.ToSlash(p)
	for i, e := range m.exclude {
		if doublestar.MatchUnvalidated(e, sp) {
			return i
		}
	}
	return -1
}

// rule names exclude pattern i as the configuration spells it.
func (m *matcher) rule(i int) string { return fmt.Sprintf("exclude %q", m.excludeRaw[i]) }

// matches reports whether path is included and not excluded.
func (m *matcher) matches(p string) bool {
	sp := filepath.ToSlash(p)
	for _, in := range m.include {
		if doublestar.MatchUnvalidated(in, sp) {
			return !m.excluded(p)
		}
	}
	return false
}

// glob returns the sorted, de-duplicated paths that match an include
// pattern and no exclude pattern, and those an exclude pattern leaves out,
// with the rule. Directories are left out; anything else (regular files,
// FIFOs, symlinks, broken or not) is returned for the caller to stat.
// Directories that cannot be read are skipped silently: their files are
// not visible, exactly as if they were absent.
func (m *matcher) glob() (out []string, excluded []Excluded) {
	seen := map[string]struct{}{}
	for _, pat := range m.include {
		walkGlob(pat, func(p string, d fs.DirEntry) {
			if d.IsDir() {
				return
			}
			if _, dup := seen[p]; dup {
				return
			}
			seen[p] = struct{}{}
			if i := m.excludedBy(p); i >= 0 {
				excluded = append(excluded, Excluded{Path: p, Rule: m.rule(i)})
				return
			}
			out = append(out, p)
		})
	}
	sort.Strings(out)
	sort.Slice(excluded, func(i, j int) bool { return excluded[i].Path < excluded[j].Path })
	return out, excluded
}

// watchDirs returns the directories to watch for changes: for every include
// pattern, its static base directory and every existing directory that
// matches a leading part of its directory pattern. For
// /data/alloc/*/alloc/logs/*.stdout.* that is /data/alloc, /data/alloc/X,
// /data/alloc/X/alloc and /data/alloc/X/alloc/logs for every X.
func (m *matcher) watchDirs() []string {
	seen := map[string]struct{}{}
	add := func(p string) {
		if _, ok := seen[p]; !ok {
			seen[p] = struct{}{}
		}
	}
	for _, pat := range m.include {
		dirPat := path.Dir(pat)
		base, rest := doublestar.SplitPattern(dirPat)
		if rest == "" || !strings.ContainsAny(dirPat, "*?[{\\") {
			if isDir(filepath.FromSlash(dirPat)) {
				add(filepath.FromSlash(dirPat))
			}
			continue
		}
		if isDir(base) {
			add(filepath.FromSlash(base))
		}
		segs := strings.Split(rest, "/")
		for i := 1; i <= len(segs); i++ {
			prefix := path.Join(base, strings.Join(segs[:i], "/"))
			walkGlob(prefix, func(p string, d fs.DirEntry) {
				if d.IsDir() {
					add(p)
				}
			})
		}
	}
	out := make([]string, 0, len(seen))
	for p := range seen {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// walkGlob calls fn for every path matching the absolute, slash-separated
// pattern.
func walkGlob(pattern string, fn func(p string, d fs.DirEntry)) {
	if !strings.ContainsAny(pattern, "*?[{\\") {
		// No meta characters: the pattern names one path. Lstat it, so that
		// a broken symlink is reported like in a directory listing.
		p := filepath.FromSlash(pattern)
		if fi, err := os.Lstat(p); err == nil {
			fn(p, fs.FileInfoToDirEntry(fi))
		}
		return
	}
	base, rest := doublestar.SplitPattern(pattern)
	fsys := os.DirFS(filepath.FromSlash(base))
	_ = doublestar.GlobWalk(fsys, rest, func(rel string, d fs.DirEntry) error {
		fn(filepath.Join(filepath.FromSlash(base), filepath.FromSlash(rel)), d)
		return nil
	})
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}
