package nomadevents

import (
	"math/rand/v2"
	"time"
)

// backoff is an exponential reconnect delay with "equal jitter": each wait
// is between half and all of the current step, and the step doubles up to
// max. It keeps many drovers from reconnecting in lockstep after a Nomad
// restart.
type backoff struct {
	initial, max time.Duration
	step         time.Duration
}

// next returns the wait before the next attempt and doubles the step.
func (b *backoff) next() time.Duration {
	if b.step == 0 {
		b.step = b.initial
	}
	d := b.step
	b.step = min(2*b.step, b.max)
	half := d / 2
	if half <= 0 {
		return d
	}
	return half + rand.N(d-half+1)
}

// reset starts again from the initial step.
func (b *backoff) reset() { b.step = 0 }
