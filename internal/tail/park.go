package tail

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Parking closes a Reader's descriptor while keeping everything else, so
// that a source can follow more files than it may hold open (see Budget).
// A parked file is found again by identity: its device and inode, then its
// head.
var (
	// ErrParked is returned by the methods that need the file while the
	// Reader is parked.
	ErrParked = errors.New("file is parked (closed to save descriptors)")
	// ErrVanished is returned by Reopen when no file with the Reader's
	// device and inode is at the path or in its directory: it was deleted
	// (or moved elsewhere) while parked. Bytes written to it after it was
	// parked cannot be read.
	ErrVanished = errors.New("file vanished while parked")
	// ErrReplaced is returned by Reopen when the file with the Reader's
	// device and inode no longer has the head of the fingerprint: it was
	// truncated and rewritten while parked, or its inode went to another
	// file. The Reader is open again; call Restart.
	ErrReplaced = errors.New("file content replaced while parked")
)

// Park closes the descriptor and keeps the rest: the offsets, a held line,
// the Progress, the fingerprint, and the modification time seen by the
// last Stat, for CheckParked. Read, Stat, Match, HeadMatches and Restart
// return ErrParked until Reopen; Flush, Rewind, HandOff and the accessors
// work as usual, and Close is a no-op. Parking a parked Reader does
// nothing.
func (r *Reader) Park() error {
	if r.f == nil {
		return nil
	}
	// A caller that reads without a Stat before (AppendOnly readers read
	// first) may not have seen the last modification time: take it now,
	// so that CheckParked does not find the file changed by the writes
	// already read. Bytes written and not read are still seen: the size
	// is compared with the offset.
	if fi, err := r.f.Stat(); err == nil && fi.Size() == r.readOff {
		r.size, r.mod = fi.Size(), fi.ModTime()
	}
	err := r.f.Close()
	r.f = nil
	if err != nil {
		return fmt.Errorf("parking %s: %w", r.path, err)
	}
	return nil
}

// Parked reports whether the Reader is parked.
func (r *Reader) Parked() bool { return r.f == nil }

// CheckParked looks at a parked Reader's file through path without opening
// it. changed: path holds the Reader's file (same device and inode) and
// its size is not Offset, or its modification time is not the one the
// last Stat saw (bytes written since, maybe just before it was parked):
// Reopen it and read. moved: path holds another file or nothing: the file
// was renamed or deleted (Reopen looks for it in the directory). Neither:
// nothing to read.
func (r *Reader) CheckParked(path string) (changed, moved bool, err error) {
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return false, true, nil
		}
		return false, false, fmt.Errorf("checking %s: %w", path, err)
	}
	if id, ok := IDOf(fi); !ok || id != r.id {
		return false, true, nil
	}
	return fi.Size() != r.readOff || !fi.ModTime().Equal(r.mod), false, nil
}

// Reopen opens the file of a parked Reader again: at path when the file
// there has the Reader's device and inode, else at the entry of path's
// directory (or of the directory it was opened in) that has them, a file
// renamed while parked. Its head must match the fingerprint (ErrReplaced
// otherwise, with the Reader open). Reading goes on at Offset, with the
// held line and the Progress as they were; the next Stat compares the
// file's size with the one seen before parking. A Reader that is not
// parked is left as it is.
func (r *Reader) Reopen(path string) error {
	if r.f != nil {
		return nil
	}
	f, at, err := openByID(r.id, path, filepath.Dir(path), filepath.Dir(r.path))
	if err != nil {
		return err
	}
	r.f, r.path = f, at
	ok, err := HeadMatches(f, r.fp)
	switch {
	case err != nil:
		return fmt.Errorf("reopening %s: %w", at, err)
	case !ok:
		return fmt.Errorf("reopening %s: %w", at, ErrReplaced)
	}
	return nil
}

// openByID opens the regular file with the given identity: path itself,
// or an entry of one of dirs. ErrVanished when there is none.
func openByID(id FileID, path string, dirs ...string) (*os.File, string, error) {
	if f, err := openIf(path, id); err != nil || f != nil {
		return f, path, err
	}
	seen := map[string]bool{}
	for _, dir := range dirs {
		if seen[dir] {
			continue
		}
		seen[dir] = true
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue // the directory is gone too
		}
		for _, e := range entries {
			if !e.Type().IsRegular() {
				continue
			}
			fi, err := e.Info()
			if err != nil {
				continue
			}
			if eid, ok := IDOf(fi); !ok || eid != id {
				continue
			}
			p := filepath.Join(dir, e.Name())
			if f, err := openIf(p, id); err != nil || f != nil {
				return f, p, err
			}
		}
	}
	return nil, "", fmt.Errorf("reopening %s: %w", path, ErrVanished)
}

// openIf opens path when it is a regular file with the identity id; nil
// without an error when it is absent or another file.
func openIf(path string, id FileID) (*os.File, error) {
	f, err := os.OpenFile(path, openFlags, 0)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("reopening %s: %w", path, err)
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("reopening %s: %w", path, err)
	}
	if fid, ok := IDOf(fi); !ok || fid != id || !fi.Mode().IsRegular() {
		_ = f.Close()
		return nil, nil
	}
	return f, nil
}
