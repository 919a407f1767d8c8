package tail

// Match is how an open file relates to a saved position.
type Match uint8

const (
	// Resume: same file, same content; continue at the saved offset.
	Resume Match = iota
	// Reused: same device and inode, other content. The inode was freed
	// and given to a new file: read it from the beginning.
	Reused
	// Truncated: same content at its head, but the file is now shorter
	// than the saved offset: read it from the beginning.
	Truncated
)

// String names the match for logs.
func (m Match) String() string {
	switch m {
	case Resume:
		return "resume"
	case Reused:
		return "inode_reused"
	case Truncated:
		return "truncated"
	}
	return "unknown"
}

// Match compares the open file with a saved position (fingerprint fp,
// committed offset) and says whether to resume at offset or start over. The
// caller looked fp up by the file's ID; Match compares content and size.
func (r *Reader) Match(fp Fingerprint, offset int64) (Match, error) {
	if fp.FileID != r.id {
		return Reused, nil
	}
	if r.f == nil {
		return Reused, ErrParked
	}
	ok, err := HeadMatches(r.f, fp)
	switch {
	case err != nil:
		return Reused, err
	case !ok:
		return Reused, nil
	case offset > r.size:
		return Truncated, nil
	}
	return Resume, nil
}
