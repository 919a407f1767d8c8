package disk

import (
	"encoding/binary"
	"hash/crc32"
)

const (
	// segmentHeader starts every segment file: a name and a format version.
	segmentHeader = "drvbuf\x00\x01"
	// segmentHeaderLen is where the first record of a segment starts.
	segmentHeaderLen = int64(len(segmentHeader))

	// recordHeaderLen is the size of a record's header.
	recordHeaderLen = 16
	// maxPayload bounds a record's payload. Larger batches are split before
	// they are written; a longer length in a header is damage.
	maxPayload = 64 << 20
)

// recordMagic starts every record. The first byte is not ASCII so that log
// text rarely contains the sequence.
var recordMagic = [4]byte{0xD7, 'r', 'e', 'c'}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func checksum(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// putRecordHeader fills hdr (recordHeaderLen bytes) for payload.
func putRecordHeader(hdr, payload []byte) {
	copy(hdr[0:4], recordMagic[:])
	binary.LittleEndian.PutUint32(hdr[4:8], uint32(len(payload)))
	binary.LittleEndian.PutUint32(hdr[8:12], checksum(payload))
	binary.LittleEndian.PutUint32(hdr[12:16], checksum(hdr[0:12]))
}

// parseRecordHeader checks a record header and returns the payload length
// and checksum. ok is false when the magic or the header checksum is wrong
// or the length is impossible.
func parseRecordHeader(hdr []byte) (n int64, sum uint32, ok bool) {
	if len(hdr) < recordHeaderLen || [4]byte(hdr[0:4]) != recordMagic {
		return 0, 0, false
	}
	if binary.LittleEndian.Uint32(hdr[12:16]) != checksum(hdr[0:12]) {
		return 0, 0, false
	}
	n = int64(binary.LittleEndian.Uint32(hdr[4:8]))
	if n > maxPayload {
		return 0, 0, false
	}
	return n, binary.LittleEndian.Uint32(hdr[8:12]), true
}
