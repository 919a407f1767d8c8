package journald

import (
	"errors"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/drover-dev/drover/internal/config"
)

// Config is the configuration of a journald source:
//
//	source "journald" "host" {
//	  units           = ["nomad", "consul", "docker"]
//	  include_matches = { _TRANSPORT = ["kernel"] }
//	  exclude_matches = { PRIORITY = ["7"] }
//	}
//
// docs/components/source-journald.md documents every option.
type Config struct {
	// JournalctlPath is the journalctl binary: a path, or a name looked up
	// in PATH.
	JournalctlPath string `hcl:"journalctl_path"`
	// JournalDirectory, when set, reads the journal files of this directory
	// (journalctl --directory) instead of the system journal: a
	// non-default location, or the files of another machine.
	JournalDirectory string `hcl:"journal_directory"`
	// Units selects the entries of these systemd units (_SYSTEMD_UNIT); a
	// name without a dot gets ".service" appended.
	Units []string `hcl:"units"`
	// IncludeMatches selects entries by field values: an entry is read when
	// one of its fields has one of the listed values. Units and
	// IncludeMatches add up: with both, an entry that matches either is
	// read. With neither, every entry is read.
	IncludeMatches map[string][]string `hcl:"include_matches"`
	// ExcludeMatches drops entries that have, for any listed field, one of
	// its values. It wins over the includes.
	ExcludeMatches map[string][]string `hcl:"exclude_matches"`
	// SinceNow makes a source without a cursor start with the entries
	// written from now on, instead of everything the journal holds.
	SinceNow bool `hcl:"since_now"`
	// CurrentBootOnly reads only the entries of the current boot
	// (journalctl --boot): with journal_directory, the latest boot in the
	// files.
	CurrentBootOnly bool `hcl:"current_boot_only"`
	// OnInvalidCursor is where reading restarts when the saved cursor is
	// unusable (its entry was rotated or vacuumed away, or journalctl
	// rejects it): "last_timestamp" (the entries from the timestamp of the
	// last delivered entry on), "oldest" (everything the journal holds) or
	// "now" (only new entries).
	OnInvalidCursor string `hcl:"on_invalid_cursor" enum:"last_timestamp,oldest,now"`
	// FieldNames is how journal field names appear under "journald":
	// "lowercase" (_systemd_unit) or "original" (_SYSTEMD_UNIT).
	FieldNames string `hcl:"field_names" enum:"lowercase,original"`
	// MaxMessageBytes is the longest message; longer ones are truncated
	// and flagged.
	MaxMessageBytes config.ByteSize `hcl:"max_message_bytes"`
	// CheckpointInterval is how often a changed cursor is saved.
	CheckpointInterval time.Duration `hcl:"checkpoint_interval"`
}

// Values of the enum options.
const (
	InvalidCursorLastTimestamp = "last_timestamp"
	InvalidCursorOldest        = "oldest"
	InvalidCursorNow           = "now"

	FieldNamesLowercase = "lowercase"
	FieldNamesOriginal  = "original"
)

// Defaults.
const (
	DefaultJournalctlPath     = "journalctl"
	DefaultOnInvalidCursor    = InvalidCursorLastTimestamp
	DefaultFieldNames         = FieldNamesLowercase
	DefaultMaxMessageBytes    = config.ByteSize(256 << 10)
	DefaultCheckpointInterval = time.Second

	// maxMaxMessageBytes bounds max_message_bytes; journalctl's line of one
	// entry may be larger (maxLineBytes), the message is cut from it.
	maxMaxMessageBytes = config.ByteSize(8 << 20)
)

// NewConfig returns a Config holding the defaults.
func NewConfig() *Config {
	return &Config{
		JournalctlPath:     DefaultJournalctlPath,
		OnInvalidCursor:    DefaultOnInvalidCursor,
		FieldNames:         DefaultFieldNames,
		MaxMessageBytes:    DefaultMaxMessageBytes,
		CheckpointInterval: DefaultCheckpointInterval,
	}
}

// fieldName is what journald accepts as a field name that entries can be
// matched on: upper-case letters, digits and underscores, not starting with
// a digit. Names starting with "__" are addresses (cursor, timestamps), not
// matchable fields.
var fieldName = regexp.MustCompile(`^[A-Z_][A-Z0-9_]{0,63}$`)

// Validate checks the configuration. Errors are *config.FieldError, joined
// with errors.Join when there are several.
func (c *Config) Validate() error {
	var errs []error
	if c.JournalctlPath == "" {
		errs = append(errs, config.Errorf("journalctl_path", "must not be empty"))
	}
	if c.JournalDirectory != "" && !filepath.IsAbs(c.JournalDirectory) {
		errs = append(errs, config.Errorf("journal_directory", "must be an absolute path, got %q", c.JournalDirectory))
	}
	for i, u := range c.Units {
		switch {
		case strings.TrimSpace(u) == "":
			errs = append(errs, config.Errorf("units", "unit %d is empty", i+1))
		case strings.ContainsAny(u, "*?[=/ "):
			errs = append(errs, config.Errorf("units", "unit %d (%q): a unit name, without patterns, spaces, '=' or '/'", i+1, u))
		}
	}
	errs = append(errs, validateMatches("include_matches", c.IncludeMatches)...)
	errs = append(errs, validateMatches("exclude_matches", c.ExcludeMatches)...)
	switch c.OnInvalidCursor {
	case InvalidCursorLastTimestamp, InvalidCursorOldest, InvalidCursorNow:
	default:
		errs = append(errs, config.Errorf("on_invalid_cursor", "must be %q, %q or %q, got %q",
			InvalidCursorLastTimestamp, InvalidCursorOldest, InvalidCursorNow, c.OnInvalidCursor))
	}
	switch c.FieldNames {
	case FieldNamesLowercase, FieldNamesOriginal:
	default:
		errs = append(errs, config.Errorf("field_names", "must be %q or %q, got %q", FieldNamesLowercase, FieldNamesOriginal, c.FieldNames))
	}
	if c.MaxMessageBytes < 1 || c.MaxMessageBytes > maxMaxMessageBytes {
		errs = append(errs, config.Errorf("max_message_bytes", "must be between 1 byte and %s, got %s", maxMaxMessageBytes, c.MaxMessageBytes))
	}
	if c.CheckpointInterval <= 0 {
		errs = append(errs, config.Errorf("checkpoint_interval", "must be positive"))
	}
	return errors.Join(errs...)
}

func validateMatches(attr string, m map[string][]string) []error {
	var errs []error
	for _, k := range slices.Sorted(maps.Keys(m)) {
		switch {
		case strings.HasPrefix(k, "__"):
			errs = append(errs, config.Errorf(attr, "field %q: fields starting with \"__\" are journal addresses, not matchable", k))
		case !fieldName.MatchString(k):
			errs = append(errs, config.Errorf(attr, "field %q: journal field names are upper-case letters, digits and '_', not starting with a digit (for example _SYSTEMD_UNIT)", k))
		case len(m[k]) == 0:
			errs = append(errs, config.Errorf(attr, "field %q: list at least one value", k))
		}
	}
	return errs
}

// unitName returns the unit as journald records it in _SYSTEMD_UNIT: a name
// without a type suffix is a service.
func unitName(u string) string {
	u = strings.TrimSpace(u)
	if !strings.Contains(u, ".") {
		return u + ".service"
	}
	return u
}
