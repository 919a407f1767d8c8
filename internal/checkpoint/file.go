package checkpoint

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// backupSuffix names the previous generation of a state file, kept so that a
// state file torn by a crash or a lying disk can be replaced by its
// predecessor (which at worst makes a source re-read some data).
const backupSuffix = ".bak"

// File is a versioned JSON state file at Path that is replaced atomically.
//
// On disk it is an envelope {"version":N,"written_at":"...","state":{...}}.
// Save writes a temporary file in the same directory, fsyncs it, moves the
// current file to Path+".bak", renames the temporary file to Path and fsyncs
// the directory, so that a crash at any point leaves either the new state,
// the previous state, or both. A File value is not safe for concurrent Saves;
// callers serialise them (Flusher does).
type File struct {
	// Path is where the state lives. Its directory is created on Save.
	Path string
	// Version is the format version of the state written and accepted.
	Version int
}

type envelope struct {
	Version   int             `json:"version"`
	WrittenAt time.Time       `json:"written_at"`
	State     json.RawMessage `json:"state"`
}

// CorruptError reports a state file that exists but cannot be used: torn,
// not JSON, or of another version.
type CorruptError struct {
	Path string
	Err  error
}

// Error describes the file and what is wrong with it.
func (e *CorruptError) Error() string {
	return fmt.Sprintf("state file %s is unusable: %v", e.Path, e.Err)
}

// Unwrap returns the parse or version error.
func (e *CorruptError) Unwrap() error { return e.Err }

// PathFor returns the conventional location of a component's state file:
// <dataDir>/checkpoints/<typ>-<id>.json. Characters of id that are unsafe in
// a file name are percent-encoded, so distinct ids never share a file.
func PathFor(dataDir, typ, id string) string {
	return filepath.Join(dataDir, "checkpoints", typ+"-"+escapeName(id)+".json")
}

func escapeName(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_',
			c == '.' && i > 0:
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}

// Save marshals state and replaces the file atomically.
func (f File) Save(state any) error {
	data, err := f.encode(state, time.Now())
	if err != nil {
		return err
	}
	return WriteAtomic(f.Path, data, 0o640, true)
}

// encode returns the file's content: the envelope around state, written
// the way encoding/json writes an envelope, without decoding and
// compacting the state's JSON a second time (for a node's thousands of
// positions, that second pass was half the encoding's cost).
func (f File) encode(state any, now time.Time) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(`{"version":`)
	b.WriteString(strconv.Itoa(f.Version))
	b.WriteString(`,"written_at":"`)
	b.Write(now.UTC().AppendFormat(b.AvailableBuffer(), time.RFC3339Nano))
	b.WriteString(`","state":`)
	// Encode writes what Marshal returns, and a newline.
	if err := json.NewEncoder(&b).Encode(state); err != nil {
		return nil, fmt.Errorf("encoding state for %s: %w", f.Path, err)
	}
	b.Truncate(b.Len() - 1)
	b.WriteString("}\n")
	return b.Bytes(), nil
}

// Load reads the state into state (a pointer, decoded with encoding/json).
//
// It returns found=false and a nil error when neither the file nor its
// backup exist. When the file is unusable (torn, not JSON, another version)
// Load falls back to the backup: it then returns found=true together with a
// *CorruptError describing the main file, so that the caller can log and
// count it. When both are unusable it returns found=false and the
// *CorruptError; state may then be partially filled and should be discarded.
// Other errors (permissions, I/O) are returned as they are.
func (f File) Load(state any) (found bool, err error) {
	mainErr := f.loadOne(f.Path, state)
	if mainErr == nil {
		return true, nil
	}
	var corrupt *CorruptError
	if !errors.Is(mainErr, fs.ErrNotExist) && !errors.As(mainErr, &corrupt) {
		return false, mainErr
	}
	bakErr := f.loadOne(f.Path+backupSuffix, state)
	switch {
	case bakErr == nil && errors.Is(mainErr, fs.ErrNotExist):
		// A crash between moving the old file aside and renaming the new one
		// into place: the backup is the newest complete state.
		return true, nil
	case bakErr == nil:
		return true, mainErr
	case errors.Is(mainErr, fs.ErrNotExist) && errors.Is(bakErr, fs.ErrNotExist):
		return false, nil
	case errors.Is(mainErr, fs.ErrNotExist):
		return false, bakErr
	}
	return false, mainErr
}

func (f File) loadOne(path string, state any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return fmt.Errorf("reading state file %s: %w", path, err)
	}
	var env envelope
	if err := json.Unmarshal(data, &env); err != nil {
		return &CorruptError{Path: path, Err: err}
	}
	if env.Version != f.Version {
		return &CorruptError{Path: path, Err: fmt.Errorf("format version %d, this build reads version %d", env.Version, f.Version)}
	}
	if len(env.State) == 0 {
		return &CorruptError{Path: path, Err: errors.New("no state in the file")}
	}
	if err := json.Unmarshal(env.State, state); err != nil {
		return &CorruptError{Path: path, Err: err}
	}
	return nil
}

// WriteAtomic replaces path with data: it writes a temporary file in the same
// directory, fsyncs it, renames it over path and fsyncs the directory. With
// keepBackup the previous file is first renamed to path+".bak". The
// directory is created (0750) when missing.
func WriteAtomic(path string, data []byte, perm os.FileMode, keepBackup bool) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("creating state directory %s: %w", dir, err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("creating temporary state file in %s: %w", dir, err)
	}
	tmpName := tmp.Name()
	ok := false
	defer func() {
		if !ok {
			_ = tmp.Close()
			_ = os.Remove(tmpName)
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("writing %s: %w", tmpName, err)
	}
	if err := tmp.Chmod(perm); err != nil {
		return fmt.Errorf("setting mode of %s: %w", tmpName, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", tmpName, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", tmpName, err)
	}
	if keepBackup {
		if err := os.Rename(path, path+backupSuffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("keeping backup of %s: %w", path, err)
		}
	}
	if err := os.Rename(tmpName, path); err != nil {
		return fmt.Errorf("replacing %s: %w", path, err)
	}
	ok = true
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
