package chaos

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/drover-dev/drover/internal/kubetest"
	"github.com/drover-dev/drover/internal/kubetest/podlogs"
)

// The Kubernetes mode of the reliability suite: drover's kubernetes_logs
// source on one node of a cluster whose API is kubetest's list/watch
// server and whose files podlogs writes exactly as containerd and the
// kubelet do. Pods churn: they are created in three namespaces, write
// numbered lines (now and then one long enough for containerd to split
// it), are rotated by the kubelet (renamed, the older rotated files
// compressed and removed), restart their container, end (phase Succeeded)
// or are deleted, and the kubelet removes their directories a few seconds
// after the deletion. Meanwhile drover is killed with SIGKILL, the sink
// fails as in the file mode, and the API drops its watches, expires the
// resourceVersion (410 Gone) or answers 503 for a while. Afterwards
// drover runs without faults and every line must arrive, with its pod's
// namespace, name, UID and container, except the lines of files drover
// itself reports as lost (files removed while drover was not running),
// counted apart (reported), and those of pods whose directory went while
// no drover process could tell what it lost (excused).
//
//	go test -run TestChaosKubernetes -v ./test/chaos/          # short, as in CI
//	make chaos MODE=kubernetes DURATION=10m [SEED=...]
//
// Environment: as TestChaos; CHAOS_KUBE_PODS (pods running at once,
// default 6), CHAOS_RATE (lines per second per container, default 40).

const kubeChaosNode = "chaos-node"

// kubeChecker knows every line written, per container, and counts what
// arrived.
type kubeChecker struct {
	mu       sync.Mutex
	written  map[string]int // "<uid>/<container>" -> lines 0..n-1 written
	pods     map[string]kubePod
	counts   map[string]map[int]int
	removed  map[string]time.Time // pod UID -> when the kubelet removed its directory
	bad      int
	problems []string
}

type kubePod struct{ ns, name string }

var kubeMsgRe = regexp.MustCompile(`^kx (\S+) (\S+) (\d+)( x+)?$`)

func (k *kubeChecker) observe(rec *record) {
	k.mu.Lock()
	defer k.mu.Unlock()
	msg := ""
	if rec.Message != nil {
		msg = *rec.Message
	}
	m := kubeMsgRe.FindStringSubmatch(msg)
	if m == nil {
		k.problemLocked("an event that was never written: %q", clip(msg))
		return
	}
	uid, container := m[1], m[2]
	seq, _ := strconv.Atoi(m[3])
	key := uid + "/" + container
	pod, ok := k.pods[uid]
	switch {
	case !ok || seq >= k.written[key]:
		k.problemLocked("an event that was never written: %q", clip(msg))
		return
	case rec.SourceType != "kubernetes_logs" || rec.Stream != "stdout" || rec.Kubernetes.PodUID != uid ||
		rec.Kubernetes.Namespace != pod.ns || rec.Kubernetes.PodName != pod.name || rec.Kubernetes.ContainerName != container:
		k.problemLocked("line %q arrived with another container's metadata: %+v", clip(msg), rec.Kubernetes)
	case rec.Truncated || rec.Partial:
		k.problemLocked("line %q arrived truncated or partial", clip(msg))
	}
	if k.counts[key] == nil {
		k.counts[key] = map[int]int{}
	}
	k.counts[key][seq]++
}

func (k *kubeChecker) problemLocked(format string, args ...any) {
	k.bad++
	if len(k.problems) < 10 {
		k.problems = append(k.problems, fmt.Sprintf(format, args...))
	}
}

func (k *kubeChecker) fail(msg string) {
	k.mu.Lock()
	k.problemLocked("%s", msg)
	k.mu.Unlock()
}

// removedDir records that the kubelet removed the directory of pod uid.
func (k *kubeChecker) removedDir(uid string, at time.Time) {
	k.mu.Lock()
	k.removed[uid] = at
	k.mu.Unlock()
}

// silentRemovals returns the containers of the pods whose
// directory the kubelet removed while no drover process could tell what
// it lost, as the file mode's checker excuses an allocation collected
// then: no process was running, the one running had not started its
// pipeline or was stopping, or it was killed later (what it had read and
// not delivered died with it, and its last saved position may say "at
// the end" of lines written since). The lines of such a pod are what no
// drover could read or report.
func (k *kubeChecker) silentRemovals(runs []run) map[string]bool {
	excused := map[string]bool{}
	k.mu.Lock()
	defer k.mu.Unlock()
	silent := func(at time.Time) bool {
		for _, r := range runs {
			if !at.Before(r.start) && (r.end.IsZero() || at.Before(r.end)) {
				return r.killed || r.ready.IsZero() || at.Before(r.ready) || !r.stopping.IsZero() && !at.Before(r.stopping)
			}
		}
		return true
	}
	for uid, at := range k.removed {
		if !silent(at) {
			continue
		}
		for key := range k.written {
			if strings.HasPrefix(key, uid+"/") {
				excused[key] = true
			}
		}
	}
	return excused
}

func (k *kubeChecker) wrote(key string, n int) {
	k.mu.Lock()
	k.written[key] = n
	k.mu.Unlock()
}

// tally counts the lines written and delivered; the missing lines of
// containers in reported (drover reported their loss) are counted as
// reported, those of containers in excused (removed while no process
// could tell) as excused, the others as lost.
func (k *kubeChecker) tally(reported, excused map[string]bool) (written, delivered, dups, lost, reportedN, excusedN int, firstLost []string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for key, n := range k.written {
		written += n
		for seq := range n {
			c := k.counts[key][seq]
			switch {
			case c > 0:
				delivered++
				dups += c - 1
			case reported[key]:
				reportedN++
			case excused[key]:
				excusedN++
			default:
				lost++
				if len(firstLost) < 10 {
					firstLost = append(firstLost, fmt.Sprintf("%s line %d", key, seq))
				}
			}
		}
	}
	return written, delivered, dups, lost, reportedN, excusedN, firstLost
}

// kubeWorld is the cluster's workload.
type kubeWorld struct {
	api     *kubetest.Server
	root    string
	chk     *kubeChecker
	rate    int
	pods    int
	logf    func(string, ...any)
	fail    func(string)
	created int
	mu      sync.Mutex
	counts  struct{ pods, rotations, restarts, deleted, succeeded int }
	cleanup sync.WaitGroup
}

// run keeps w.pods pods writing until ctx ends; each lives a few seconds.
func (w *kubeWorld) run(ctx context.Context, rng *rand.Rand) {
	var wg sync.WaitGroup
	for slot := range w.pods {
		seed := rng.Uint64()
		wg.Go(func() {
			r := rand.New(rand.NewPCG(seed, uint64(slot)))
			for ctx.Err() == nil {
				w.onePod(ctx, r)
			}
		})
	}
	wg.Wait()
}

func (w *kubeWorld) onePod(ctx context.Context, rng *rand.Rand) {
	w.mu.Lock()
	w.created++
	n := w.created
	w.counts.pods++
	w.mu.Unlock()
	ns := []string{"shop", "billing", "ops"}[n%3]
	name := fmt.Sprintf("app-%d", n)
	uid := fmt.Sprintf("uid-%06d", n)
	containers := []string{"main"}
	if n%3 == 0 {
		containers = append(containers, "sidecar")
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(uid), Labels: map[string]string{"app": "chaos"}},
		Spec:       corev1.PodSpec{NodeName: kubeChaosNode},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning},
	}
	for _, c := range containers {
		pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: c, Image: "registry/" + c + ":1"})
	}
	w.chk.mu.Lock()
	w.chk.pods[uid] = kubePod{ns: ns, name: name}
	w.chk.mu.Unlock()
	w.api.CreatePod(pod)
	clock := time.Now().UTC()
	now := func() time.Time { clock = clock.Add(time.Second); return clock } // one writer goroutine per pod
	var ws []*podlogs.Container
	for _, c := range containers {
		ws = append(ws, &podlogs.Container{Root: w.root, Namespace: ns, Pod: name, UID: uid, Name: c, MaxFiles: 4, Now: now})
	}
	seqs := make([]int, len(ws))
	life := uniform(rng, 2*time.Second, 12*time.Second)
	end := time.Now().Add(life)
	interval := time.Second / time.Duration(max(w.rate, 1))
	for time.Now().Before(end) && ctx.Err() == nil {
		for i, c := range ws {
			line := fmt.Sprintf("kx %s %s %d", uid, c.Name, seqs[i])
			if rng.IntN(200) == 0 {
				line += " " + strings.Repeat("x", 16384+rng.IntN(30000)) // split into P records
			}
			// Counted before it is written: drover may read, ship and
			// deliver it before WriteLine returns.
			w.chk.wrote(uid+"/"+c.Name, seqs[i]+1)
			if err := c.WriteLine("stdout", line); err != nil {
				w.fail(fmt.Sprintf("writing %s: %v", name, err))
				return
			}
			seqs[i]++
			switch r := rng.IntN(400); {
			case r < 3:
				if err := c.Rotate(); err != nil {
					w.fail(fmt.Sprintf("rotating %s: %v", name, err))
					return
				}
				w.mu.Lock()
				w.counts.rotations++
				w.mu.Unlock()
			case r == 3:
				if err := c.RestartContainer(); err != nil {
					w.fail(fmt.Sprintf("restarting %s: %v", name, err))
					return
				}
				w.mu.Lock()
				w.counts.restarts++
				w.mu.Unlock()
			}
		}
		time.Sleep(interval)
	}
	for _, c := range ws {
		_ = c.Stop()
	}
	// The pod ends (a Job) or is deleted (a rollout); the kubelet removes
	// its directory a few seconds after the deletion.
	if rng.IntN(2) == 0 {
		p := w.api.Pod(ns, name)
		p.Status.Phase = corev1.PodSucceeded
		w.api.UpdatePod(p)
		w.mu.Lock()
		w.counts.succeeded++
		w.mu.Unlock()
		sleep(ctx, uniform(rng, 0, 3*time.Second))
	}
	w.api.DeletePod(ns, name)
	w.mu.Lock()
	w.counts.deleted++
	w.mu.Unlock()
	w.cleanup.Add(1)
	time.AfterFunc(uniform(rng, 3*time.Second, 8*time.Second), func() {
		defer w.cleanup.Done()
		_ = ws[0].RemovePod()
		w.chk.removedDir(uid, time.Now())
		w.logf("kubelet removed the directory of %s/%s (%s)", ns, name, uid)
	})
}

// kubeLossRe finds the loss reports of drover's log: the container whose
// lines it could not read, by pod and container name.
var (
	kubeLossRe = regexp.MustCompile(`(were deleted before drover read them|were compressed or deleted before drover read them|drover stops before it delivered all their lines)`)
	kubeAttrRe = regexp.MustCompile(`\b(pod|pod_uid|container|namespace|file)=("(?:[^"\\]|\\.)*"|\S+)`)
	// kubeFileRe takes the pod's UID and the container from a file's path
	// (reports of containers not followed name their files only).
	kubeFileRe = regexp.MustCompile(`/[^/_]+_[^/_]+_([^/]+)/([^/]+)/[^/]+$`)
)

// kubeLosses reads drover's logs for loss reports and returns the
// containers they name, as "<uid>/<container>".
func kubeLosses(dir string, chk *kubeChecker) (map[string]bool, []string, error) {
	out := map[string]bool{}
	var alarms []string
	logs, _ := filepath.Glob(filepath.Join(dir, "drover-*.log"))
	byName := map[string]string{}
	chk.mu.Lock()
	for uid, p := range chk.pods {
		byName[p.ns+"/"+p.name] = uid
	}
	chk.mu.Unlock()
	for _, path := range logs {
		f, err := os.Open(path)
		if err != nil {
			return nil, nil, err
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.Contains(line, "WARNING: DATA RACE"), strings.HasPrefix(line, "panic:"), strings.HasPrefix(line, "fatal error:"):
				alarms = append(alarms, filepath.Base(path)+": "+line)
			case kubeLossRe.MatchString(line):
				attrs := map[string]string{}
				for _, m := range kubeAttrRe.FindAllStringSubmatch(line, -1) {
					v := m[2]
					if u, err := strconv.Unquote(v); err == nil {
						v = u
					}
					attrs[m[1]] = v
				}
				uid := attrs["pod_uid"]
				if uid == "" {
					uid = byName[attrs["namespace"]+"/"+attrs["pod"]]
				}
				if m := kubeFileRe.FindStringSubmatch(attrs["file"]); uid == "" && m != nil {
					uid, attrs["container"] = m[1], m[2]
				}
				if uid != "" && attrs["container"] != "" {
					out[uid+"/"+attrs["container"]] = true
				} else {
					alarms = append(alarms, "a loss report that names no container: "+line)
				}
			}
		}
		f.Close()
	}
	return out, alarms, nil
}

func kubeDroverConfig(dataDir, kubeconfig, root, sinkURL, logLevel string, disk bool) string {
	buffer := "max_events = 1000"
	if disk {
		buffer = "type = \"disk\"\n    max_size = \"256MiB\""
	}
	return fmt.Sprintf(`data_dir         = %q
shutdown_timeout = "20s"
admin { address = "127.0.0.1:0" }
log { level = %q }

source "kubernetes_logs" "pods" {
  node_name           = %q
  kubeconfig          = %q
  pod_logs_dir        = %q
  scan_interval       = "300ms"
  unknown_pod_wait    = "1s"
  terminal_idle       = "500ms"
  checkpoint_interval = "200ms"
}

sink "http" "out" {
  inputs   = ["pods"]
  uri      = %q
  encoding = "ndjson"
  batch {
    max_events = 500
    timeout    = "50ms"
  }
  request {
    timeout               = "2s"
    retry_initial_backoff = "50ms"
    retry_max_backoff     = "1s"
  }
  buffer {
    %s
  }
}
`, dataDir, logLevel, kubeChaosNode, kubeconfig, root, sinkURL, buffer)
}

// TestChaosKubernetes runs the Kubernetes mode for CHAOS_DURATION of
// faults.
func TestChaosKubernetes(t *testing.T) {
	o := optionsFromEnv(t)
	pods := 6
	if v := os.Getenv("CHAOS_KUBE_PODS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("CHAOS_KUBE_PODS=%q: want a positive number", v)
		}
		pods = n
	}
	t.Logf("chaos kubernetes: seed %d, %v of faults, %d pods at once, %d lines/s per container; replay with CHAOS_SEED=%d CHAOS_DURATION=%v",
		o.seed, o.duration, pods, o.rate, o.seed, o.duration)
	work, err := os.MkdirTemp("", "drover-chaos-kube-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("CHAOS_KEEP") == "1" {
			t.Logf("chaos kubernetes: the configuration, drover's logs, events.log and the files are kept in %s", work)
			return
		}
		_ = os.RemoveAll(work)
	})
	events, err := newEventLog(filepath.Join(work, "events.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer events.close()
	logLevel := "info"
	if v := os.Getenv("CHAOS_LOG_LEVEL"); v != "" {
		logLevel = v
	}

	api := kubetest.New(kubetest.Options{BookmarkInterval: time.Second})
	defer api.Close()
	for _, ns := range []string{"shop", "billing", "ops"} {
		api.CreateNamespace(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{"team": ns}}})
	}
	kubeconfig := filepath.Join(work, "kubeconfig")
	if err := api.WriteKubeconfig(kubeconfig); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(work, "pods")
	chk := &kubeChecker{written: map[string]int{}, pods: map[string]kubePod{}, counts: map[string]map[int]int{}, removed: map[string]time.Time{}}
	recv, err := newReceiver(chk.observe, chk.fail)
	if err != nil {
		t.Fatal(err)
	}
	defer recv.close()
	sup := newSupervisor(droverBin, work)
	sup.logf = events.logf
	dataDir := filepath.Join(work, "data")
	cfg := kubeDroverConfig(dataDir, kubeconfig, root, recv.url(), logLevel, false)
	if err := sup.start(cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sup.kill() })

	w := &kubeWorld{api: api, root: root, chk: chk, rate: o.rate, pods: pods, logf: events.logf, fail: chk.fail}
	wctx, stopWorld := context.WithCancel(context.Background())
	worldDone := make(chan struct{})
	go func() { defer close(worldDone); w.run(wctx, rand.New(rand.NewPCG(o.seed, 400))) }()

	// The fault phase: SIGKILLs, the sink's faults, the API's.
	ctx, cancel := context.WithTimeout(context.Background(), o.duration)
	var wg sync.WaitGroup
	var apiFaults int
	wg.Go(func() {
		rng := rand.New(rand.NewPCG(o.seed, 401))
		for sleep(ctx, expDuration(rng, 3*time.Second)) {
			sup.kill()
			sleep(ctx, uniform(rng, 0, time.Second))
			if ctx.Err() != nil {
				return
			}
			if err := sup.start(cfg); err != nil {
				chk.fail(err.Error())
				return
			}
		}
	})
	sf := &faults{o: faultOptions{sinkEvery: 5 * time.Second}, recv: recv, fail: chk.fail, logf: events.logf}
	wg.Go(func() { sf.sink(ctx, rand.New(rand.NewPCG(o.seed, 402))) })
	wg.Go(func() {
		rng := rand.New(rand.NewPCG(o.seed, 403))
		for sleep(ctx, expDuration(rng, 4*time.Second)) {
			apiFaults++
			switch rng.IntN(3) {
			case 0:
				events.logf("API: watches dropped")
				api.DropWatches()
			case 1:
				events.logf("API: resourceVersion expired (410 Gone), watches dropped")
				api.Compact()
				api.DropWatches()
			case 2:
				d := uniform(rng, 500*time.Millisecond, 4*time.Second)
				events.logf("API: 503 for %v", d)
				api.Fail(503)
				api.DropWatches()
				sleep(ctx, d)
				api.Fail(0)
			}
		}
	})
	wg.Wait()
	cancel()
	api.Fail(0)
	if err := recv.setMode(sinkMode{}); err != nil {
		t.Fatal(err)
	}
	// Liveness: drover runs without faults (started before the last pods
	// end and their directories go: a pod that lived only while no drover
	// ran could not be seen by anyone) and every line arrives.
	catchUpFrom := time.Now()
	if !sup.running() {
		if err := sup.start(cfg); err != nil {
			t.Fatal(err)
		}
	}
	stopWorld()
	<-worldDone
	w.cleanup.Wait()
	liveness := 60*time.Second + o.duration/10
	deadline := time.Now().Add(liveness)
	for {
		reported, alarms, err := kubeLosses(work, chk)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := sup.scanLogs(); err != nil { // when each process started its pipeline
			t.Fatal(err)
		}
		if len(alarms) > 0 {
			t.Fatalf("drover reported:\n%s", strings.Join(alarms, "\n"))
		}
		_, _, _, lost, _, _, first := chk.tally(reported, chk.silentRemovals(sup.timeline()))
		if lost == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("drover did not catch up within %v after the faults stopped: %d lines missing, the first %v", liveness, lost, first)
		}
		time.Sleep(500 * time.Millisecond)
	}
	catchUp := time.Since(catchUpFrom)
	if code, err := sup.stop(30 * time.Second); err != nil || code != 0 {
		t.Errorf("drover stopped with exit code %d, %v", code, err)
	}
	reported, alarms, err := kubeLosses(work, chk)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := sup.scanLogs(); err != nil {
		t.Fatal(err)
	}
	written, delivered, dups, lost, reportedN, excusedN, firstLost := chk.tally(reported, chk.silentRemovals(sup.timeline()))
	kills, stops, _, crashes := sup.counts()
	requests, _ := recv.stats()
	w.mu.Lock()
	wc := w.counts
	w.mu.Unlock()
	summary := fmt.Sprintf("chaos kubernetes summary: seed=%d duration=%v written=%d delivered=%d lost=%d reported=%d excused=%d duplicated=%d bad=%d "+
		"requests=%d kills=%d stops=%d sink_outages=%d api_faults=%d pods=%d succeeded=%d deleted=%d rotations=%d restarts=%d catch_up=%v",
		o.seed, o.duration, written, delivered, lost, reportedN, excusedN, dups, chk.bad, requests, kills, stops, sf.sinkOutages, apiFaults,
		wc.pods, wc.succeeded, wc.deleted, wc.rotations, wc.restarts, catchUp.Round(100*time.Millisecond))
	t.Log(summary)
	if path := os.Getenv("CHAOS_SUMMARY"); path != "" {
		if err := os.WriteFile(path, []byte(summary+"\n"), 0o644); err != nil {
			t.Error(err)
		}
	}
	for _, c := range crashes {
		t.Errorf("%s", c)
	}
	for _, a := range alarms {
		t.Errorf("drover reported: %s", a)
	}
	for _, p := range chk.problems {
		t.Errorf("%s", p)
	}
	if lost > 0 {
		t.Errorf("%d lines lost; the first: %v", lost, firstLost)
	}
	if kills < o.minKills {
		t.Errorf("%d SIGKILLs, fewer than CHAOS_MIN_KILLS=%d", kills, o.minKills)
	}
	if written == 0 || delivered == 0 {
		t.Error("nothing written or delivered")
	}
}
