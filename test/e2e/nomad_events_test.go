package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"

	"github.com/drover-dev/drover/internal/nomadtest/eventstream"
)

// nomadEventsToHTTP is a configuration that ships the event stream of the
// Nomad agent at addr into the receiver.
func nomadEventsToHTTP(dataDir, addr, uri, extra string) string {
	return fmt.Sprintf(`
data_dir = %q
shutdown_timeout = "20s"
admin { address = "127.0.0.1:0" }
log { level = "debug" }

source "nomad_events" "cluster" {
  nomad { address = %q }
  %s
}

sink "http" "out" {
  inputs   = ["cluster"]
  uri      = %q
  encoding = "ndjson"
  batch {
    max_events = 50
    timeout    = "50ms"
  }
  request {
    retry_initial_backoff = "50ms"
    retry_max_backoff     = "500ms"
  }
}
`, dataDir, addr, extra, uri)
}

// eventID is a received event's identity, as eventstream.Event.Identity
// renders it: index/topic/type/namespace/key.
func eventID(r record) string {
	idx, _ := r["index"].(float64)
	return fmt.Sprintf("%d/%s/%s/%s/%s", int64(idx), r.str("topic"), r.str("type"), r.str("namespace"), r.str("key"))
}

func eventIndex(id string) uint64 {
	n, _ := strconv.ParseUint(strings.SplitN(id, "/", 2)[0], 10, 64)
	return n
}

// nomadCursor is the persisted cursor of the nomad_events source "cluster".
type nomadCursor struct {
	Index uint64   `json:"index"`
	Seen  []uint64 `json:"seen"`
	Exact bool     `json:"exact"`
}

func readNomadCursor(t *testing.T, dataDir string) (nomadCursor, bool) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dataDir, "checkpoints", "nomad_events-cluster.json"))
	if os.IsNotExist(err) {
		return nomadCursor{}, false
	}
	if err != nil {
		t.Fatal(err)
	}
	var env struct {
		State nomadCursor `json:"state"`
	}
	if err := json.Unmarshal(data, &env); err != nil {
		t.Fatalf("cursor file: %v", err)
	}
	return env.State, true
}

// receivedIDs counts the received events by identity.
func receivedIDs(r *receiver) map[string]int {
	_, records := r.snapshot()
	out := map[string]int{}
	for _, rec := range records {
		out[eventID(rec)]++
	}
	return out
}

func hasAllIDs(r *receiver, want []string) bool {
	got := receivedIDs(r)
	for _, id := range want {
		if got[id] == 0 {
			return false
		}
	}
	return true
}

func idsOf(items []eventstream.Item) []string {
	var out []string
	for _, e := range eventstream.Events(items) {
		out = append(out, e.Identity())
	}
	return out
}

// TestNomadEventsCleanRestart replays the captured history through the real
// binary with a clean restart (SIGTERM) in the middle: every event arrives
// exactly once, as Nomad sent it, with its summary fields.
func TestNomadEventsCleanRestart(t *testing.T) {
	srv := eventstream.New(eventstream.Options{Heartbeat: 200 * time.Millisecond})
	defer srv.Close()
	history := eventstream.History()
	first, second := history[:40], history[40:]
	base := t.TempDir()
	recv := newReceiver(t)
	cfg := writeConfig(t, base, nomadEventsToHTTP(filepath.Join(base, "data"), srv.URL(), recv.url(), ""))

	srv.Publish(first...)
	d := startDrover(t, cfg)
	waitUntil(t, 30*time.Second, "the first part", func() bool { return hasAllIDs(recv, idsOf(first)) })
	if code := d.stop(); code != 0 {
		t.Fatalf("drover exited with %d", code)
	}
	srv.Publish(second...)
	d = startDrover(t, cfg)
	waitUntil(t, 30*time.Second, "the second part", func() bool { return hasAllIDs(recv, idsOf(second)) })
	if code := d.stop(); code != 0 {
		t.Fatalf("drover exited with %d", code)
	}

	_, records := recv.snapshot()
	want := eventstream.Events(history)
	if len(records) != len(want) {
		t.Fatalf("received %d events, want %d (each once)", len(records), len(want))
	}
	host, _ := os.Hostname()
	for i, rec := range records {
		if eventID(rec) != want[i].Identity() {
			t.Fatalf("event %d is %s, want %s", i, eventID(rec), want[i].Identity())
		}
		if !sameJSON(t, rec.str("message"), string(want[i].Raw)) {
			t.Fatalf("event %d: the message is not the event Nomad sent", i)
		}
		if rec.str("source_type") != "nomad_events" || rec.str("host") != host {
			t.Fatalf("event %d: source_type %q host %q", i, rec.str("source_type"), rec.str("host"))
		}
		if want[i].Topic == "Allocation" && (rec.str("job_id") == "" || rec.str("client_status") == "" || rec.str("alloc_name") == "") {
			t.Fatalf("allocation event without summary fields: %v", rec)
		}
	}
	if reqs := srv.StreamRequests(); len(reqs) != 2 || reqs[1].Index() != first[len(first)-1].Index {
		t.Fatalf("stream requests %+v, want the restart to resume at %d", reqs, first[len(first)-1].Index)
	}
}

func sameJSON(t *testing.T, a, b string) bool {
	t.Helper()
	decode := func(s string) any {
		dec := json.NewDecoder(strings.NewReader(s))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("invalid JSON %.100s: %v", s, err)
		}
		return v
	}
	return reflect.DeepEqual(decode(a), decode(b))
}

// longHistory repeats the captured history with shifted indexes, for a
// stream that lasts several seconds.
func longHistory(t *testing.T, cycles int) []eventstream.Item {
	t.Helper()
	var out []eventstream.Item
	h := eventstream.History()
	for c := 0; c < cycles; c++ {
		shifted, err := eventstream.Shift(h, uint64(c)*100)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, shifted...)
	}
	return out
}

// TestNomadEventsCrashSafety kills drover with SIGKILL at random moments
// while the fake agent publishes, restarts it, and checks that no event is
// missing, none arrives that was not published, and that the duplicates
// stay within the unacknowledged window: at each kill, the events the
// receiver had beyond the persisted cursor.
func TestNomadEventsCrashSafety(t *testing.T) {
	seed := time.Now().UnixNano()
	if s := os.Getenv("DROVER_E2E_SEED"); s != "" {
		fmt.Sscan(s, &seed)
	}
	t.Logf("seed %d (rerun with DROVER_E2E_SEED=%d)", seed, seed)
	rng := rand.New(rand.NewSource(seed))

	srv := eventstream.New(eventstream.Options{Heartbeat: 500 * time.Millisecond})
	defer srv.Close()
	history := longHistory(t, 4)
	want := idsOf(history)
	base := t.TempDir()
	dataDir := filepath.Join(base, "data")
	recv := newReceiver(t)
	cfg := writeConfig(t, base, nomadEventsToHTTP(dataDir, srv.URL(), recv.url(), ""))

	publishing := make(chan struct{})
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		defer close(publishing)
		for _, it := range history {
			srv.Publish(it)
			select {
			case <-time.After(20 * time.Millisecond):
			case <-stop:
				return
			}
		}
	}()

	d := startDrover(t, cfg)
	kills, window, firstReq := 0, 0, 0
	for running := true; running; {
		select {
		case <-publishing:
			running = false
		case <-time.After(time.Duration(700+rng.Intn(1300)) * time.Millisecond):
			d.kill()
			kills++
			w, next := unacknowledgedWindow(t, srv, history, dataDir, firstReq)
			window, firstReq = window+w, next
			d = startDrover(t, cfg)
		}
	}
	waitUntil(t, 60*time.Second, "every event", func() bool { return hasAllIDs(recv, want) })
	if code := d.stop(); code != 0 {
		t.Fatalf("drover exited with %d after SIGTERM", code)
	}

	// Nomad can publish the same identity twice at one index (a job
	// registered twice in one Raft apply): count what was published.
	got := receivedIDs(recv)
	published := map[string]int{}
	for _, id := range want {
		published[id]++
	}
	dups := 0
	for id, n := range got {
		if published[id] == 0 {
			t.Errorf("received an event that was never published: %s", id)
		}
		dups += max(0, n-published[id])
	}
	t.Logf("nomad_events crash safety: %d events published (%d distinct identities), %d duplicates after %d SIGKILLs (unacknowledged window at the kills: %d)",
		len(want), len(published), dups, kills, window)
	if kills < 3 {
		t.Errorf("only %d kills happened; the test needs several", kills)
	}
	if dups > window {
		t.Errorf("%d duplicates exceed the unacknowledged window %d", dups, window)
	}
}

// unacknowledgedWindow is what a restart may deliver again: the published
// events from the persisted cursor up to the last frame the fake agent sent
// to the killed drover (its stream requests are those from firstReq on).
// It also returns where the next drover's requests start.
func unacknowledgedWindow(t *testing.T, srv *eventstream.Server, history []eventstream.Item, dataDir string, firstReq int) (int, int) {
	t.Helper()
	reqs := srv.StreamRequests()
	var sent uint64
	for _, r := range reqs[firstReq:] {
		sent = max(sent, r.LastIndex)
	}
	cur, found := readNomadCursor(t, dataDir)
	n, atCursor := 0, 0
	for _, e := range eventstream.Events(history) {
		switch {
		case e.Index > sent:
		case !found || e.Index > cur.Index:
			n++
		case e.Index == cur.Index:
			atCursor++
		}
	}
	return n + max(0, atCursor-len(cur.Seen)), len(reqs)
}

// TestNomadEventsRealAgent runs drover against a real Nomad agent (loopback
// only) named by DROVER_TEST_NOMAD_BIN: it runs and stops raw_exec jobs,
// restarts drover, restarts the agent, and checks what drover delivered
// against the agent's own replay of its event buffer (GET
// /v1/event/stream?index=0). Two agents: a -dev one, whose index starts
// over when it restarts (drover must notice the regression), and one with a
// persistent data dir, which rebuilds its buffer from the Raft log (drover
// must not deliver the replayed events again).
func TestNomadEventsRealAgent(t *testing.T) {
	bin := os.Getenv("DROVER_TEST_NOMAD_BIN")
	if bin == "" {
		t.Skip("DROVER_TEST_NOMAD_BIN is not set: set it to a nomad binary (v1.6 or later) to run this test against a real agent")
	}
	t.Run("dev", func(t *testing.T) { realAgentScenario(t, bin, true) })
	t.Run("persistent", func(t *testing.T) { realAgentScenario(t, bin, false) })
	t.Run("acl", func(t *testing.T) { realAgentACL(t, bin) })
}

// realAgentACL checks deploy/nomad/drover-events-policy.hcl against an agent
// with ACLs: a token without node read is refused with a message that names
// it; a token with the policy streams the default topics, reads the lists
// start_at = "now" needs, and the lists a resync snapshot needs after a gap.
func realAgentACL(t *testing.T, bin string) {
	agent := startNomadAgent(t, bin, true, true)
	root := agent.client(t)
	boot, _, err := root.ACLTokens().Bootstrap(nil)
	if err != nil {
		t.Fatalf("bootstrapping ACLs: %v", err)
	}
	mgmt := agent.client(t)
	mgmt.SetSecretID(boot.SecretID)
	waitForNode(t, agent, mgmt)
	rules, err := os.ReadFile(filepath.Join("..", "..", "deploy", "nomad", "drover-events-policy.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	token := func(name, rules string) string {
		t.Helper()
		if _, err := mgmt.ACLPolicies().Upsert(&api.ACLPolicy{Name: name, Rules: rules}, nil); err != nil {
			t.Fatalf("policy %s: %v", name, err)
		}
		tok, _, err := mgmt.ACLTokens().Create(&api.ACLToken{Name: name, Type: "client", Policies: []string{name}}, nil)
		if err != nil {
			t.Fatalf("token %s: %v", name, err)
		}
		return tok.SecretID
	}
	good := token("drover-events", string(rules))
	noNode := token("no-node", `namespace "*" { capabilities = ["list-jobs", "read-job"] }`)
	runJob(t, mgmt, rawExecJob("sleeper", "service", "/bin/sleep", "300"), "running")

	base := t.TempDir()
	dataDir := filepath.Join(base, "data")
	recv := newReceiver(t)
	write := func(extra string) string {
		return writeConfig(t, base, nomadEventsToHTTP(dataDir, agent.addr, recv.url(), extra))
	}

	// A token without node read: refused, and told why.
	t.Setenv("NOMAD_TOKEN", noNode)
	d := startDrover(t, write(""))
	waitUntil(t, 30*time.Second, "the refusal logged", func() bool {
		return strings.Contains(d.stderr.String(), "Nomad refused the event stream") &&
			strings.Contains(d.stderr.String(), "node:read (topic Node)")
	})
	d.stop()

	// The policy's token: start_at = "now" reads the lists; only events
	// after the start arrive.
	t.Setenv("NOMAD_TOKEN", good)
	cfg := write(`start_at = "now"` + "\n  resync = true")
	d = startDrover(t, cfg)
	waitUntil(t, 30*time.Second, "the start index", func() bool {
		return strings.Contains(d.stderr.String(), `starting at the current index`)
	})
	runJob(t, mgmt, rawExecJob("hello", "batch", "/bin/echo", "hello"), "complete")
	waitUntil(t, 30*time.Second, "events of the new job", func() bool {
		_, records := recv.snapshot()
		for _, r := range records {
			if r.str("job_id") == "hello" {
				return true
			}
		}
		return false
	})
	for _, r := range func() []record { _, rs := recv.snapshot(); return rs }() {
		if r.str("job_id") == "sleeper" && r.str("type") == "JobRegistered" {
			t.Errorf("start_at = \"now\" shipped an event from before the start: %s", eventID(r))
		}
	}
	if code := d.stop(); code != 0 {
		t.Fatalf("drover exited with %d", code)
	}

	// A cursor older than the agent's buffer: a gap, and a snapshot read
	// with the policy's token.
	path := filepath.Join(dataDir, "checkpoints", "nomad_events-cluster.json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var env map[string]any
	if err := json.Unmarshal(data, &env); err != nil {
		t.Fatal(err)
	}
	env["state"].(map[string]any)["index"] = 3
	env["state"].(map[string]any)["exact"] = true
	data, _ = json.Marshal(env)
	if err := os.WriteFile(path, data, 0o640); err != nil {
		t.Fatal(err)
	}
	os.Remove(path + ".bak")
	d = startDrover(t, cfg)
	waitUntil(t, 30*time.Second, "the snapshot", func() bool {
		return strings.Contains(d.stderr.String(), "resync snapshot emitted")
	})
	if code := d.stop(); code != 0 {
		t.Fatalf("drover exited with %d", code)
	}
	logs := d.stderr.String()
	if !strings.Contains(logs, "events may have been missed") || strings.Contains(logs, "resync snapshot incomplete") {
		t.Fatalf("drover logs:\n%s", logs)
	}
	topics := map[string]int{}
	_, records := recv.snapshot()
	for _, r := range records {
		if r["synthetic"] == true && r.str("type") == "Snapshot" {
			topics[r.str("topic")]++
		}
	}
	t.Logf("real agent with ACLs: snapshot events by topic %v", topics)
	if topics["Allocation"] == 0 || topics["Job"] == 0 || topics["Node"] == 0 || topics["Deployment"] == 0 {
		t.Errorf("snapshot lacks a topic: %v", topics)
	}
}

func realAgentScenario(t *testing.T, bin string, dev bool) {
	agent := startNomadAgent(t, bin, dev, false)
	base := t.TempDir()
	recv := newReceiver(t)
	// A shorter regression_grace than the default 30s keeps the -dev case
	// quick; the persistent agent rebuilds its buffer well within it.
	cfg := writeConfig(t, base, nomadEventsToHTTP(filepath.Join(base, "data"), agent.addr, recv.url(), `regression_grace = "10s"`))
	d := startDrover(t, cfg)

	client := agent.client(t)
	runJob(t, client, rawExecJob("sleeper", "service", "/bin/sleep", "300"), "running")
	runJob(t, client, rawExecJob("hello", "batch", "/bin/echo", "hello"), "complete")
	// A clean restart of drover in the middle.
	if code := d.stop(); code != 0 {
		t.Fatalf("drover exited with %d", code)
	}
	d = startDrover(t, cfg)
	stopJob(t, client, "sleeper")
	before := agent.replay(t)
	waitUntil(t, 60*time.Second, "the agent's events before its restart", func() bool { return hasAllIDs(recv, keys(before)) })

	agent.restart(t)
	client = agent.client(t)
	runJob(t, client, rawExecJob("sleeper-2", "service", "/bin/sleep", "300"), "running")
	stopJob(t, client, "sleeper-2")
	after := agent.replay(t)
	waitUntil(t, 60*time.Second, "the agent's events after its restart", func() bool { return hasAllIDs(recv, keys(after)) })
	regressions := d.metric("drover_component_errors_total", `component_type="nomad_events"`, `stage="index_regression"`)
	gaps := d.metric("drover_component_errors_total", `component_type="nomad_events"`, `stage="gap"`)
	if code := d.stop(); code != 0 {
		t.Fatalf("drover exited with %d", code)
	}

	_, records := recv.snapshot()
	counts := map[string]int{}
	messages := map[string]string{}
	for _, rec := range records {
		id := eventID(rec)
		counts[id]++
		messages[id] = rec.str("message")
	}
	dups := 0
	for _, n := range counts {
		dups += n - 1
	}
	// Payloads of events replayed after a restart are rebuilt from the
	// Raft log; compare each event with the replay taken while it was new.
	for id, msg := range before {
		if !sameJSON(t, messages[id], msg) {
			t.Errorf("event %s differs from the agent's replay", id)
		}
	}
	for id, msg := range after {
		if _, old := before[id]; !old && !sameJSON(t, messages[id], msg) {
			t.Errorf("event %s differs from the agent's replay", id)
		}
	}
	t.Logf("real agent (dev=%v): %d events in the agent's replay before its restart, %d after; drover delivered %d records, %d distinct, %d duplicates; %v index regressions, %v gaps",
		dev, len(before), len(after), len(records), len(counts), dups, regressions, gaps)
	if dups != 0 {
		t.Errorf("%d duplicates across clean restarts", dups)
	}
	wantRegressions := 0.0
	if dev {
		wantRegressions = 1 // a -dev agent starts its index over
	}
	if regressions != wantRegressions || gaps != 0 {
		t.Errorf("%v index regressions (want %v), %v gaps (want 0)", regressions, wantRegressions, gaps)
	}
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// nomadAgent is a Nomad agent (server and client) on loopback ports: a -dev
// one, or one with a data dir that survives restarts.
type nomadAgent struct {
	bin, dir, addr, config string
	dev, acl               bool
	cmd                    *exec.Cmd
	exited                 chan struct{}
	log                    *os.File
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startNomadAgent starts a -dev agent (dev) or one with a data dir, with
// ACLs enabled when acl is true.
func startNomadAgent(t *testing.T, bin string, dev, acl bool) *nomadAgent {
	t.Helper()
	a := &nomadAgent{bin: bin, dir: t.TempDir(), dev: dev, acl: acl}
	http := freePort(t)
	a.addr = fmt.Sprintf("http://127.0.0.1:%d", http)
	a.config = filepath.Join(a.dir, "agent.hcl")
	persistent := ""
	if !dev {
		persistent = fmt.Sprintf(`
data_dir = %q
advertise {
  http = "127.0.0.1"
  rpc  = "127.0.0.1"
  serf = "127.0.0.1"
}
server {
  enabled          = true
  bootstrap_expect = 1
}
client {
  enabled = true
}
`, filepath.Join(a.dir, "data"))
	}
	if acl {
		persistent += "\nacl {\n  enabled = true\n}\n"
	}
	conf := fmt.Sprintf(`
bind_addr = "127.0.0.1"
ports {
  http = %d
  rpc  = %d
  serf = %d
}
server {
  event_buffer_size = 1000
}
plugin "raw_exec" {
  config {
    enabled = true
  }
}
%s`, http, freePort(t), freePort(t), persistent)
	if err := os.WriteFile(a.config, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(a.dir, "agent.log"))
	if err != nil {
		t.Fatal(err)
	}
	a.log = f
	t.Cleanup(func() {
		// Collect the stopped allocations first: the client unmounts
		// their secrets and private directories (tmpfs) when it does.
		if c, err := api.NewClient(&api.Config{Address: a.addr}); err == nil {
			_ = c.System().GarbageCollect()
		}
		a.shutdown(t)
		killLeftovers(t, a.dir)
		unmountLeftovers(t, a.dir)
		f.Close()
		if t.Failed() {
			data, _ := os.ReadFile(f.Name())
			t.Logf("nomad agent log (tail):\n%s", tail(string(data), 40))
		}
	})
	a.start(t)
	return a
}

func (a *nomadAgent) start(t *testing.T) {
	t.Helper()
	args := []string{"agent", "-config", a.config}
	if a.dev {
		args = []string{"agent", "-dev", "-bind", "127.0.0.1", "-config", a.config}
	}
	a.cmd = exec.Command(a.bin, args...)
	// -dev keeps its state in temporary directories: keep them in the test's.
	// The persistent agent keeps it in data_dir, also below a.dir.
	a.cmd.Env = append(os.Environ(), "TMPDIR="+a.dir, "NOMAD_ADDR="+a.addr)
	a.cmd.Stdout, a.cmd.Stderr = a.log, a.log
	if err := a.cmd.Start(); err != nil {
		t.Fatalf("starting nomad: %v", err)
	}
	a.exited = make(chan struct{})
	go func() { _ = a.cmd.Wait(); close(a.exited) }()
	client := a.client(t)
	if a.acl {
		// Without a token only the leader can be asked; the caller
		// bootstraps ACLs and waits for the node (waitForNode).
		waitUntil(t, 60*time.Second, "the nomad agent to elect itself", func() bool {
			a.checkRunning(t)
			leader, err := client.Status().Leader()
			return err == nil && leader != ""
		})
		return
	}
	waitForNode(t, a, client)
}

func (a *nomadAgent) checkRunning(t *testing.T) {
	t.Helper()
	select {
	case <-a.exited:
		t.Fatalf("the nomad agent exited: %v", a.cmd.ProcessState)
	default:
	}
}

// waitForNode waits until the agent's client node is ready.
func waitForNode(t *testing.T, a *nomadAgent, client *api.Client) {
	t.Helper()
	waitUntil(t, 60*time.Second, "the nomad agent to have a ready node", func() bool {
		a.checkRunning(t)
		nodes, _, err := client.Nodes().List(nil)
		if err != nil {
			return false
		}
		for _, n := range nodes {
			if n.Status == "ready" {
				return true
			}
		}
		return false
	})
}

// shutdown stops the agent with SIGINT (SIGKILL after 30s).
func (a *nomadAgent) shutdown(t *testing.T) {
	if a.cmd == nil || a.cmd.Process == nil {
		return
	}
	select {
	case <-a.exited:
		return
	default:
	}
	_ = a.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-a.exited:
	case <-time.After(30 * time.Second):
		t.Logf("nomad agent did not stop within 30s; killing it")
		_ = a.cmd.Process.Kill()
		<-a.exited
	}
}

func (a *nomadAgent) restart(t *testing.T) {
	t.Helper()
	a.shutdown(t)
	a.start(t)
}

func (a *nomadAgent) client(t *testing.T) *api.Client {
	t.Helper()
	c, err := api.NewClient(&api.Config{Address: a.addr})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// replay reads the agent's whole event buffer (index=0, the topics drover
// subscribes to by default, every namespace) until the stream has been idle
// for two seconds, and returns the events by identity with their JSON.
func (a *nomadAgent) replay(t *testing.T) map[string]string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, a.addr+
		"/v1/event/stream?topic=Job&topic=Allocation&topic=Deployment&topic=Evaluation&topic=Node&namespace=*&index=0", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	out := map[string]string{}
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("the agent ended its event stream")
			}
			item, ok, err := eventstream.ParseLine([]byte(l))
			if err != nil {
				t.Fatal(err)
			}
			if ok {
				for _, e := range item.Events {
					out[e.Identity()] = string(e.Raw)
				}
			}
		case <-time.After(2 * time.Second):
			if len(out) == 0 {
				t.Fatal("the agent's replay is empty")
			}
			return out
		}
	}
}

func rawExecJob(id, typ, command string, args ...string) *api.Job {
	job := &api.Job{ID: &id, Name: &id, Type: &typ, Datacenters: []string{"dc1"}}
	cpu, mem := 20, 32
	task := api.NewTask("main", "raw_exec").SetConfig("command", command).SetConfig("args", args)
	task.Resources = &api.Resources{CPU: &cpu, MemoryMB: &mem}
	tg := api.NewTaskGroup("main", 1).AddTask(task)
	attempts := 0
	tg.RestartPolicy = &api.RestartPolicy{Attempts: &attempts}
	if typ == "service" {
		minHealthy, deadline, progress := time.Second, 20*time.Second, 40*time.Second
		tg.Update = &api.UpdateStrategy{MinHealthyTime: &minHealthy, HealthyDeadline: &deadline, ProgressDeadline: &progress}
	}
	return job.AddTaskGroup(tg)
}

// runJob registers job and waits until an allocation reaches status.
func runJob(t *testing.T, c *api.Client, job *api.Job, status string) {
	t.Helper()
	if _, _, err := c.Jobs().Register(job, nil); err != nil {
		t.Fatalf("registering %s: %v", *job.ID, err)
	}
	waitUntil(t, 60*time.Second, fmt.Sprintf("job %s to be %s", *job.ID, status), func() bool {
		allocs, _, err := c.Jobs().Allocations(*job.ID, false, nil)
		if err != nil {
			return false
		}
		for _, a := range allocs {
			if a.ClientStatus == status {
				return true
			}
		}
		return false
	})
}

// stopJob deregisters a job and waits until its allocations stopped.
func stopJob(t *testing.T, c *api.Client, id string) {
	t.Helper()
	if _, _, err := c.Jobs().Deregister(id, false, nil); err != nil {
		t.Fatalf("stopping %s: %v", id, err)
	}
	waitUntil(t, 60*time.Second, fmt.Sprintf("job %s to stop", id), func() bool {
		allocs, _, err := c.Jobs().Allocations(id, false, nil)
		if err != nil {
			return false
		}
		for _, a := range allocs {
			if a.ClientStatus == "running" || a.ClientStatus == "pending" {
				return false
			}
		}
		return true
	})
}

// unmountLeftovers unmounts what the test's agent mounted below dir and
// did not unmount (task secrets on tmpfs), deepest first, so that the test
// directory can be removed.
func unmountLeftovers(t *testing.T, dir string) {
	data, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return
	}
	var points []string
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) > 1 && strings.HasPrefix(fields[1], dir+"/") {
			points = append(points, fields[1])
		}
	}
	for i := len(points) - 1; i >= 0; i-- {
		if err := syscall.Unmount(points[i], 0); err != nil {
			t.Logf("unmounting %s: %v", points[i], err)
		}
	}
}

// killLeftovers ends task and executor processes the test's agent started
// (found by the test directory in their command line) that outlived it.
func killLeftovers(t *testing.T, dir string) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !strings.Contains(string(cmdline), dir) {
			continue
		}
		t.Logf("killing leftover process %d: %s", pid, strings.ReplaceAll(string(cmdline), "\x00", " "))
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}
