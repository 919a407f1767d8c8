package disk

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/drover-dev/drover/internal/checkpoint"
)

const (
	ackFileName = "ack"
	ackMagic    = "drvack\x00\x01"
	ackFileLen  = len(ackMagic) + 8 + 8 + 4
)

// position is a place in the buffer: a segment id and a byte offset in it.
// The acknowledged position is the first byte not yet acknowledged: every
// record before it, in this segment and in the segments with smaller ids,
// was acknowledged.
type position struct {
	seg uint64
	off int64
}

func (p position) String() string { return fmt.Sprintf("%s@%d", segmentName(p.seg), p.off) }

// saveAck replaces the ack file atomically (temporary file, fsync, rename,
// directory fsync).
func saveAck(dir string, p position) error {
	b := make([]byte, 0, ackFileLen)
	b = append(b, ackMagic...)
	b = binary.LittleEndian.AppendUint64(b, p.seg)
	b = binary.LittleEndian.AppendUint64(b, uint64(p.off))
	b = binary.LittleEndian.AppendUint32(b, checksum(b))
	if err := checkpoint.WriteAtomic(filepath.Join(dir, ackFileName), b, 0o640, false); err != nil {
		return fmt.Errorf("saving disk buffer position: %w", err)
	}
	return nil
}

// errAckDamaged marks an ack file that exists but cannot be used.
var errAckDamaged = errors.New("damaged acknowledged-position file")

// loadAck reads the ack file. found is false when there is none. A damaged
// file returns an error wrapping errAckDamaged.
func loadAck(dir string) (p position, found bool, err error) {
	path := filepath.Join(dir, ackFileName)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return position{}, false, nil
	}
	if err != nil {
		return position{}, false, fmt.Errorf("reading %s: %w", path, err)
	}
	if len(b) != ackFileLen || string(b[:len(ackMagic)]) != ackMagic ||
		binary.LittleEndian.Uint32(b[ackFileLen-4:]) != checksum(b[:ackFileLen-4]) {
		return position{}, false, fmt.Errorf("%s: %w", path, errAckDamaged)
	}
	rest := b[len(ackMagic):]
	p = position{seg: binary.LittleEndian.Uint64(rest[0:8]), off: int64(binary.LittleEndian.Uint64(rest[8:16]))}
	if p.off < 0 {
		return position{}, false, fmt.Errorf("%s: %w", path, errAckDamaged)
	}
	return p, true, nil
}
