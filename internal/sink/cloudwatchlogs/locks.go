package cloudwatchlogs

import (
	"context"
	"sync"
)

// streamLocks serializes the calls to one log stream: requests in flight
// at once (request.concurrency) that hold events of the same stream take
// turns. Locks of streams nobody waits for are forgotten.
type streamLocks struct {
	mu    sync.Mutex
	locks map[string]*streamLock
}

type streamLock struct {
	ch   chan struct{} // holds a token while the lock is taken
	refs int
}

// lock takes the lock of key, or returns ctx.Err() when ctx ends first.
// The caller calls unlock exactly once after a nil error.
func (l *streamLocks) lock(ctx context.Context, key string) (unlock func(), err error) {
	l.mu.Lock()
	if l.locks == nil {
		l.locks = map[string]*streamLock{}
	}
	sl := l.locks[key]
	if sl == nil {
		sl = &streamLock{ch: make(chan struct{}, 1)}
		l.locks[key] = sl
	}
	sl.refs++
	l.mu.Unlock()
	release := func() {
		l.mu.Lock()
		sl.refs--
		if sl.refs == 0 {
			delete(l.locks, key)
		}
		l.mu.Unlock()
	}
	select {
	case sl.ch <- struct{}{}:
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
	return func() {
		<-sl.ch
		release()
	}, nil
}
