package tail

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
)

// MaxHead is the number of leading bytes of a file that its Fingerprint
// covers once the file is at least that long.
const MaxHead = 1024

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// FileID is a file's device and inode number. Two open files with the same
// FileID are the same file; a FileID can be reused once the file is deleted
// and closed everywhere, which is why a Fingerprint also covers the content.
type FileID struct {
	Dev uint64
	Ino uint64
}

// String formats the id as dev:ino for logs.
func (id FileID) String() string { return fmt.Sprintf("%d:%d", id.Dev, id.Ino) }

// IDOf returns the FileID of a FileInfo from os.Stat, os.Lstat or
// File.Stat. ok is false on platforms that do not expose inodes.
func IDOf(fi fs.FileInfo) (id FileID, ok bool) { return idOf(fi) }

// Fingerprint identifies the content of a file: its FileID and the CRC-32C
// (Castagnoli) of its first HeadLen bytes. HeadLen grows with the file up to
// MaxHead; a file shorter than MaxHead is fingerprinted over all its bytes.
type Fingerprint struct {
	FileID
	HeadLen int
	HeadCRC uint32
}

// ReadFingerprint reads the head of f and returns its fingerprint. id is the
// file's FileID (from its Stat).
func ReadFingerprint(f *os.File, id FileID) (Fingerprint, error) {
	var head [MaxHead]byte
	n, err := readHead(f, head[:])
	if err != nil {
		return Fingerprint{}, err
	}
	return Fingerprint{FileID: id, HeadLen: n, HeadCRC: crc32.Checksum(head[:n], castagnoli)}, nil
}

// HeadMatches reports whether the first fp.HeadLen bytes of f still have the
// checksum fp.HeadCRC. A file now shorter than fp.HeadLen does not match,
// nor does a HeadLen outside [0, MaxHead] (a damaged checkpoint). It does
// not compare FileIDs.
func HeadMatches(f *os.File, fp Fingerprint) (bool, error) {
	if fp.HeadLen == 0 {
		return true, nil
	}
	if fp.HeadLen < 0 || fp.HeadLen > MaxHead {
		return false, nil
	}
	var head [MaxHead]byte
	n, err := readHead(f, head[:fp.HeadLen])
	if err != nil {
		return false, err
	}
	return n == fp.HeadLen && crc32.Checksum(head[:n], castagnoli) == fp.HeadCRC, nil
}

// readHead fills buf from offset 0 as far as the file goes.
func readHead(f *os.File, buf []byte) (int, error) {
	n, err := f.ReadAt(buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return n, fmt.Errorf("reading head of %s: %w", f.Name(), err)
	}
	return n, nil
}

func crc32Checksum(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }
