package checkpoint

import (
	"context"
	"sync"
)

// Start runs the Flusher in a goroutine (see Run) until stop is called;
// stop waits for the goroutine to end. It does not save at the end: call
// Flush for that.
func (f *Flusher) Start() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { f.Run(ctx) })
	return func() {
		cancel()
		wg.Wait()
	}
}
