package journald

import (
	"sync/atomic"
	"time"

	"github.com/drover-dev/drover/internal/status"
)

// published makes the tracker readable by Describe from other goroutines.
type published struct{ tracker atomic.Pointer[tracker] }

// Describe shows the journal as one target with the committed cursor
// (status.Describer): LastAcknowledged is the journal time of the newest
// entry every sink acknowledged.
func (s *Source) Describe() status.Description {
	t := status.Target{Kind: status.TargetJournal, Key: "journal", State: status.StateFollowing,
		Labels: map[string]string{"journalctl": s.path}}
	var pos position
	if tr := s.pub.tracker.Load(); tr != nil {
		pos = tr.Snapshot()
		t.Unacknowledged = tr.PendingBatches() > 0
	} else {
		t.State = status.StateWaitingFile
	}
	if pos.Realtime > 0 {
		t.LastAcknowledged = time.UnixMicro(pos.Realtime).UTC()
	}
	return status.Description{Targets: []status.Target{t}, Detail: pos}
}
