package vector

import (
	"hash/fnv"
	"strconv"
	"strings"
)

// File and component names. Every name drover renders is built here, so
// that what it writes and what it recognises as its own cannot drift
// apart.
//
// Files: <file_prefix><alloc_id>.<ext> for an allocation (the ID is a
// UUID, as Nomad makes them) and <file_prefix>placeholder.<ext> for the
// placeholder, ext "toml" or "yaml". Temporary files of an atomic write
// are .<name>.tmp-<digits>; Vector's loader skips them (their extension is
// not one it reads).
//
// Components, per allocation x task:
//
//	<source_prefix><alloc_id>_<task>   the file source
//	<name_prefix><alloc_id>_<task>     the remap transform (what sinks read)
//
// where <task> is the task name when it is made of ASCII letters, digits,
// '_' and '-' only; otherwise every other byte becomes '_' and
// "_<8 hex digits of the name's FNV-1a hash>" is appended, so that two task
// names never share a component name.

// placeholderKey names the placeholder file in place of an allocation ID.
const placeholderKey = "placeholder"

// Extensions of the output formats.
const (
	FormatTOML = "toml"
	FormatYAML = "yaml"
)

// Formats lists the output formats.
var Formats = []string{FormatTOML, FormatYAML}

// Names builds and recognises drover's file and component names.
type Names struct {
	// FilePrefix starts every file name drover owns in the output directory.
	FilePrefix string
	// SourcePrefix starts the name of every file source.
	SourcePrefix string
	// TransformPrefix starts the name of every remap transform.
	TransformPrefix string
}

// AllocFile returns the file name of an allocation's configuration.
func (n Names) AllocFile(allocID, format string) string {
	return n.FilePrefix + allocID + "." + format
}

// PlaceholderFile returns the file name of the placeholder configuration.
func (n Names) PlaceholderFile(format string) string {
	return n.FilePrefix + placeholderKey + "." + format
}

// Source returns the name of the file source of one task of an allocation.
func (n Names) Source(allocID, task string) string {
	return n.SourcePrefix + allocID + "_" + ComponentSafe(task)
}

// Transform returns the name of the remap transform of one task.
func (n Names) Transform(allocID, task string) string {
	return n.TransformPrefix + allocID + "_" + ComponentSafe(task)
}

// PlaceholderSource returns the name of the placeholder's file source.
func (n Names) PlaceholderSource() string { return n.SourcePrefix + placeholderKey }

// PlaceholderTransform returns the name of the placeholder's remap
// transform; it matches "<name_prefix>*".
func (n Names) PlaceholderTransform() string { return n.TransformPrefix + placeholderKey }

// Owned parses a file name of the output directory. ok is true only for
// the names drover writes: an allocation's file (key is its ID), the
// placeholder (key is "placeholder"), in either format, and the temporary
// files of interrupted atomic writes of those (temp is set). Every other
// file belongs to someone else and is never touched.
func (n Names) Owned(name string) (key, format string, temp, ok bool) {
	if rest, found := strings.CutPrefix(name, "."); found {
		i := strings.LastIndex(rest, ".tmp-")
		if i < 0 || !allDigits(rest[i+len(".tmp-"):]) {
			return "", "", false, false
		}
		key, format, _, ok = n.Owned(rest[:i])
		return key, format, true, ok
	}
	rest, found := strings.CutPrefix(name, n.FilePrefix)
	if !found || n.FilePrefix == "" {
		return "", "", false, false
	}
	dot := strings.LastIndexByte(rest, '.')
	if dot < 0 {
		return "", "", false, false
	}
	key, format = rest[:dot], rest[dot+1:]
	if format != FormatTOML && format != FormatYAML {
		return "", "", false, false
	}
	if key != placeholderKey && !IsAllocID(key) {
		return "", "", false, false
	}
	return key, format, false, true
}

// IsAllocID reports whether s has the shape of a Nomad allocation ID: a
// UUID, 8-4-4-4-12 lower-case hexadecimal digits. Only such IDs become
// file and component names.
func IsAllocID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return false
			}
		}
	}
	return true
}

// ComponentSafe returns name when it is a safe part of a Vector component
// name (ASCII letters, digits, '_' and '-'), else name with every other
// byte replaced by '_' and "_<hash>" appended: distinct names stay
// distinct.
func ComponentSafe(name string) string {
	if name != "" && isBareKey(name) {
		return name
	}
	b := []byte(name)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			b[i] = '_'
		}
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(name))
	sum := strconv.FormatUint(uint64(h.Sum32()), 16)
	return string(b) + "_" + strings.Repeat("0", 8-len(sum)) + sum
}

// ValidPrefix reports whether p can start drover's file and component
// names: not empty, ASCII letters, digits, '_' and '-' only, starting with
// a letter.
func ValidPrefix(p string) bool {
	if p == "" || !isBareKey(p) {
		return false
	}
	c := p[0]
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
