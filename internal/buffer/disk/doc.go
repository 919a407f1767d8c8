// Package disk is the disk buffer in front of a sink: batches are appended
// to checksummed segment files, acknowledged to their source once an fsync
// covers them, handed to the sink from disk, and deleted once the sink
// acknowledged them. It lets a sink be down for longer than the log files
// (which Nomad rotates away) would last.
//
// # Files
//
// A buffer owns one directory, <data_dir>/buffer/<sink id>/:
//
//	00000000000000000001.seg  segment files, appended in id order
//	ack                       the acknowledged position (segment id, offset)
//	lock                      flock(2) against a second user of the directory
//
// A segment starts with an 8-byte header ("drvbuf" 0x00 0x01) followed by
// records:
//
//	offset  size  field
//	0       4     magic 0xD7 'r' 'e' 'c'
//	4       4     payload length n, little endian
//	8       4     CRC-32C of the payload
//	12      4     CRC-32C of bytes 0..11
//	16      n     payload: one serialized batch (see codec.go)
//
// The magic and the header checksum let recovery find the next record after
// damage without trusting a damaged length; the payload checksum catches
// damage in the data. A record never spans two segments.
//
// # Lifecycle
//
// The writer appends to the head segment and starts a new one when the head
// has reached the segment size, and at every start: existing segments are
// never written again, so a torn tail left by a crash is only ever read
// around, never appended to. The reader follows from the acknowledged
// position. A segment is deleted once the persisted acknowledged position
// has moved past it.
//
// # Acknowledgements
//
// Push admits a batch (or waits, or drops it, when the buffer is full) and
// returns; the writer goroutine writes admitted records and fsyncs them in
// groups, at most once per fsync interval (0: after every write), and only
// then releases each batch's upstream Ack as Delivered. Records become
// visible to the reader only once they are durable, so the sink never sees
// data that a crash could take back.
//
// Next hands out batches in order; their Acks report back in any order, and
// the acknowledged position advances over the contiguous prefix that was
// released Delivered or Rejected. A batch released Failed is handed out
// again (before newer ones) by a later Next, or after a restart. The
// position is persisted every quarter second and at Close; after a crash,
// what the sink acknowledged after the last persist is delivered again
// (at least once, never a gap).
//
// # Damage
//
// Open reads every unacknowledged record once to verify it. A torn tail or a
// damaged record is logged with its file and offset, counted in
// component_errors_total{stage="buffer_corrupt"} and skipped; the records
// around it are kept. Nothing in a segment can make Open or Next panic or
// hang.
package disk
