package chaos

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/drover-dev/drover/internal/nomadtest"
)

// Rotation profiles of the tasks: logmon's max_file_size and max_files.
var (
	// storm rotates every few lines (bursts create dozens of files in
	// milliseconds) and keeps a window of 400 KiB: a reader that falls
	// that far behind loses files.
	storm = rotation{maxSize: 4 << 10, maxFiles: 100}
	// normal keeps a few files of moderate size.
	normal = rotation{maxSize: 32 << 10, maxFiles: 5}
	// big rotates rarely.
	big = rotation{maxSize: 256 << 10, maxFiles: 3}
)

// worldOptions shape the workload.
type worldOptions struct {
	seed     uint64
	allocDir string
	// rate is the lines per second of a task's stdout; stderr writes a
	// quarter of it.
	rate int
	// churnEvery is the mean pause between two short-lived allocations;
	// at most maxChurn live at once.
	churnEvery time.Duration
	maxChurn   int
}

// world plays a Nomad client node: allocations that start (registered
// with the fake API, then their directory and logmon's files created),
// write numbered lines with rotation and purge, complete, and are
// garbage-collected (directory deleted, then removed from the API).
type world struct {
	o    worldOptions
	srv  *nomadtest.Server
	chk  *checker
	fail func(string)
	logf func(format string, args ...any) // the world's events, for diagnosis

	stop    chan struct{}
	stopped sync.Once
	life    sync.WaitGroup // the lifecycle goroutine and pending collections
	writers sync.WaitGroup

	mu      sync.Mutex
	streams int // streams created: the next stream index
	allocs  []*allocation
	started int
	done    int
	gced    int
}

// allocation is one allocation of the world.
type allocation struct {
	spec   nomadtest.Alloc
	chains []*chain
	stop   chan struct{} // stops its writers
	wg     sync.WaitGroup
	churn  bool
	ends   time.Time // churn: when it completes
}

func newWorld(o worldOptions, srv *nomadtest.Server, chk *checker, fail func(string), logf func(string, ...any)) *world {
	return &world{o: o, srv: srv, chk: chk, fail: fail, logf: logf, stop: make(chan struct{})}
}

// start creates the long-running allocations and starts the churn.
func (w *world) start() error {
	base := []struct {
		ns, job string
		tasks   []nomadtest.Task
		rot     []rotation
	}{
		{"default", "web", []nomadtest.Task{{Name: "api"}, {Name: "api-proxy", Lifecycle: "prestart", Sidecar: true}}, []rotation{normal, storm}},
		{"apps", "worker", []nomadtest.Task{{Name: "app"}}, []rotation{big}},
		{"apps", "noisy", []nomadtest.Task{{Name: "spam"}}, []rotation{storm}},
	}
	for _, b := range base {
		if _, err := w.startAlloc(nomadtest.Alloc{Namespace: b.ns, Job: b.job, Tasks: b.tasks}, b.rot, false); err != nil {
			return err
		}
	}
	w.life.Add(1)
	go w.churn()
	return nil
}

// startAlloc registers an allocation and creates its files: first the
// API (Nomad knows an allocation before its client creates the
// directory), then the directory with logmon's fifos, then file 0 of
// every stream; then its writers start.
func (w *world) startAlloc(spec nomadtest.Alloc, rots []rotation, churn bool) (*allocation, error) {
	spec.ID = nomadtest.NewID()
	w.srv.AddAlloc(spec)
	dir := nomadtest.LogsDir(w.o.allocDir, spec.ID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: %w", dir, err)
	}
	a := &allocation{spec: spec, stop: make(chan struct{}), churn: churn}
	for i, task := range spec.Tasks {
		for _, stream := range []string{"stdout", "stderr"} {
			if err := syscall.Mkfifo(filepath.Join(dir, "."+task.Name+"."+stream+".fifo"), 0o600); err != nil {
				return nil, fmt.Errorf("creating logmon's fifo: %w", err)
			}
			w.mu.Lock()
			idx := w.streams
			w.streams++
			w.mu.Unlock()
			info := &streamInfo{index: idx, allocID: spec.ID, namespace: spec.Namespace, job: spec.Job,
				task: task.Name, stream: stream, dir: dir}
			c, err := newChain(info, w.o.seed, rots[i%len(rots)])
			if err != nil {
				return nil, err
			}
			w.chk.add(c)
			a.chains = append(a.chains, c)
		}
	}
	w.mu.Lock()
	w.allocs = append(w.allocs, a)
	w.started++
	w.mu.Unlock()
	w.logf("alloc %s started: %s/%s, %d streams from %d", spec.ID, spec.Namespace, spec.Job, len(a.chains), a.chains[0].info.index)
	for _, c := range a.chains {
		rate := w.o.rate
		if c.info.stream == "stderr" {
			rate = max(1, rate/4)
		}
		a.wg.Add(1)
		w.writers.Add(1)
		go func() {
			defer w.writers.Done()
			defer a.wg.Done()
			w.write(c, rate, a.stop)
		}()
	}
	return a, nil
}

// write writes lines into c at about rate per second until stop: every
// 100 ms a batch cut into a few chunks at arbitrary bytes (logmon flushes
// its buffer every 100 ms, in the middle of lines), now and then a burst
// of hundreds of lines (a rotation storm).
func (w *world) write(c *chain, rate int, stop <-chan struct{}) {
	rng := rand.New(rand.NewPCG(w.o.seed, uint64(c.info.index)))
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	pause := func() { time.Sleep(time.Duration(rng.IntN(20)) * time.Millisecond) }
	// A burst fills up to half of what logmon keeps (at about 200 bytes a
	// line): a reader that keeps up loses nothing, one that is down for
	// long or far behind does.
	burst := int(c.rot.maxSize) * c.rot.maxFiles / 400
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		n := rng.IntN(rate/5 + 1)
		if rng.IntN(300) == 0 {
			n = burst/2 + rng.IntN(burst/2+1)
		}
		if n == 0 {
			continue
		}
		cuts := make([]float64, rng.IntN(4))
		for i := range cuts {
			cuts[i] = rng.Float64()
		}
		if err := c.writeLines(n, cuts, pause); err != nil {
			w.fail(fmt.Sprintf("writer of %s: %v", c.info.key(), err))
			return
		}
	}
}

// churn starts short-lived allocations, completes them when their time
// is up, and garbage-collects them later.
func (w *world) churn() {
	defer w.life.Done()
	rng := rand.New(rand.NewPCG(w.o.seed, 1))
	n := 0
	for {
		d := time.Duration(rng.ExpFloat64() * float64(w.o.churnEvery))
		select {
		case <-w.stop:
			return
		case <-time.After(d):
		}
		now := time.Now()
		live := 0
		for _, a := range w.snapshot() {
			if !a.churn || a.ends.IsZero() {
				continue
			}
			if now.After(a.ends) {
				w.complete(a, rng)
				continue
			}
			live++
		}
		if live >= w.o.maxChurn {
			continue
		}
		n++
		spec := nomadtest.Alloc{Namespace: []string{"default", "apps"}[rng.IntN(2)], Job: fmt.Sprintf("job-%d", n),
			Tasks: []nomadtest.Task{{Name: "main"}}}
		if rng.IntN(2) == 0 {
			spec.JobType = "batch"
		}
		a, err := w.startAlloc(spec, []rotation{[]rotation{storm, normal, big}[rng.IntN(3)]}, true)
		if err != nil {
			w.fail(err.Error())
			return
		}
		w.mu.Lock()
		a.ends = now.Add(time.Duration(2+rng.IntN(20)) * time.Second)
		w.mu.Unlock()
	}
}

func (w *world) snapshot() []*allocation {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]*allocation(nil), w.allocs...)
}

// complete stops an allocation's writers (each finishes its lines), marks
// it complete in the API, and schedules its garbage collection: eager (one
// time in five: a few seconds later, whatever drover read) or patient
// (once every line arrived, or after 30 s).
func (w *world) complete(a *allocation, rng *rand.Rand) {
	close(a.stop)
	a.wg.Wait()
	for _, c := range a.chains {
		c.close()
	}
	w.mu.Lock()
	a.ends = time.Time{}
	w.done++
	w.mu.Unlock()
	desired := "stop"
	if a.spec.JobType == "batch" {
		desired = "run"
	}
	w.srv.SetAllocStatus(a.spec.ID, "complete", desired)
	w.logf("alloc %s complete", a.spec.ID)
	eager := rng.IntN(5) == 0
	delay := time.Duration(1000+rng.IntN(3000)) * time.Millisecond
	apiDelay := time.Duration(200+rng.IntN(2000)) * time.Millisecond
	w.life.Add(1)
	go func() {
		defer w.life.Done()
		deadline := time.Now().Add(30 * time.Second)
		for {
			select {
			case <-w.stop:
				return
			case <-time.After(delay):
			}
			if eager || time.Now().After(deadline) || w.chk.allArrived(a.chains) {
				break
			}
			delay = 500 * time.Millisecond
		}
		dir := filepath.Join(w.o.allocDir, a.spec.ID)
		if err := os.RemoveAll(dir); err != nil {
			w.fail(fmt.Sprintf("garbage-collecting %s: %v", dir, err))
			return
		}
		at := time.Now()
		for _, c := range a.chains {
			c.gc(at)
		}
		w.logf("alloc %s garbage-collected (eager %v)", a.spec.ID, eager)
		w.mu.Lock()
		w.gced++
		w.mu.Unlock()
		select {
		case <-w.stop:
		case <-time.After(apiDelay):
		}
		w.srv.RemoveAlloc(a.spec.ID)
		w.logf("alloc %s removed from the API", a.spec.ID)
	}()
}

// finish stops the churn and every writer (each finishes its lines), and
// cancels pending garbage collections. Long-running allocations stay.
func (w *world) finish() {
	w.stopped.Do(func() { close(w.stop) })
	w.life.Wait()
	for _, a := range w.snapshot() {
		select {
		case <-a.stop:
		default:
			close(a.stop)
		}
	}
	w.writers.Wait()
}

// counts returns the allocations started, completed and collected.
func (w *world) counts() (started, done, gced int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.started, w.done, w.gced
}
