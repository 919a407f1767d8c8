// Package buildinfo says which drover this is: the version, commit and
// build date stamped at build time (make release sets them with
// -ldflags -X), falling back to what the Go toolchain recorded (the VCS
// revision and time of a build from a git checkout).
package buildinfo

import (
	"runtime"
	"runtime/debug"
	"strings"
)

// Set with -ldflags "-X github.com/drover-dev/drover/internal/buildinfo.version=v1.2.3 ...".
var (
	version string // git describe --tags: v1.2.3, v1.2.3-4-gabcdef0, v1.2.3-dirty
	commit  string // the full commit hash
	date    string // RFC 3339, UTC
)

// Info describes the running binary.
type Info struct {
	// Version is the release version ("v1.2.3"), or "devel" for a build
	// that was not stamped and has no module version.
	Version string
	// Commit is the git commit ("" when unknown); Modified says that the
	// tree had uncommitted changes.
	Commit   string
	Modified bool
	// Date is the build date (or the commit's date when the build was not
	// stamped), RFC 3339; "" when unknown.
	Date string
	// GoVersion is the Go toolchain's version; Platform is GOOS/GOARCH.
	GoVersion string
	Platform  string
}

// Get returns the running binary's Info.
func Get() Info {
	info := Info{Version: version, Commit: commit, Date: date,
		GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if info.Commit == "" {
					info.Commit = s.Value
				}
			case "vcs.time":
				if info.Date == "" {
					info.Date = s.Value
				}
			case "vcs.modified":
				info.Modified = s.Value == "true"
			}
		}
		if info.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			info.Version = bi.Main.Version
		}
	}
	if strings.HasSuffix(info.Version, "-dirty") {
		info.Modified = true
	}
	if info.Version == "" {
		info.Version = "devel"
	}
	return info
}

// ShortCommit is the first 12 characters of the commit.
func (i Info) ShortCommit() string {
	if len(i.Commit) > 12 {
		return i.Commit[:12]
	}
	return i.Commit
}

// String is what `drover version` prints: the version on the first line,
// then one "name: value" line each for the commit, the build date, and
// the Go version with the platform.
func (i Info) String() string {
	var b strings.Builder
	b.WriteString("drover " + i.Version + "\n")
	c := i.Commit
	if c == "" {
		c = "unknown"
	}
	if i.Modified {
		c += " (modified)"
	}
	b.WriteString("commit: " + c + "\n")
	d := i.Date
	if d == "" {
		d = "unknown"
	}
	b.WriteString("built: " + d + "\n")
	b.WriteString("go: " + i.GoVersion + " " + i.Platform + "\n")
	return b.String()
}
