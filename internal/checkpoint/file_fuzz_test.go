package checkpoint

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad reads arbitrary bytes as a state file and its backup, as left
// by a crash in the middle of a save, a lying disk or a hand edit (nil
// means the file is absent). Load must never panic, and it must say
// honestly what it found: a state only when one of the files decoded,
// found=false with a nil error only when both are absent, and otherwise a
// *CorruptError naming the file.
func FuzzLoad(f *testing.F) {
	good := []byte(`{"version":1,"written_at":"2024-05-01T12:00:00Z","state":{"offsets":{"a":3}}}` + "\n")
	f.Add(good, []byte(nil), false)
	f.Add(good[:40], good, true)
	f.Add([]byte(`{"version":2,"state":{}}`), []byte(`{"version":1}`), true)
	f.Add([]byte(`{"version":1,"state":{"offsets":{"a":"x"}}}`), []byte("\x00\x00"), true)
	f.Add([]byte(nil), []byte(`{"version":1,"state":null}`), true)
	f.Fuzz(func(t *testing.T, main, backup []byte, hasBackup bool) {
		dir := t.TempDir()
		file := File{Path: filepath.Join(dir, "state.json"), Version: 1}
		if main != nil {
			if err := os.WriteFile(file.Path, main, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if hasBackup {
			if err := os.WriteFile(file.Path+backupSuffix, backup, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		var st testState
		found, err := file.Load(&st)
		var corrupt *CorruptError
		switch {
		case err != nil && !errors.As(err, &corrupt):
			t.Fatalf("error %T is not a *CorruptError: %v", err, err)
		case err != nil && corrupt.Path != file.Path && corrupt.Path != file.Path+backupSuffix:
			t.Fatalf("error names %q", corrupt.Path)
		case !found && err == nil && (main != nil || hasBackup):
			t.Fatalf("nothing found and no error, with a file present (main %v, backup %v)", main != nil, hasBackup)
		}
		if found {
			// What was loaded must be one of the files' states.
			var fromMain, fromBackup testState
			okMain := main != nil && file.loadOne(file.Path, &fromMain) == nil
			okBackup := hasBackup && file.loadOne(file.Path+backupSuffix, &fromBackup) == nil
			if !okMain && !okBackup {
				t.Fatalf("found a state although neither file decodes")
			}
		}
		if _, statErr := os.Stat(file.Path); main == nil && !errors.Is(statErr, fs.ErrNotExist) {
			t.Fatalf("Load created the state file")
		}
	})
}
