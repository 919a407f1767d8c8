package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The status page is tested in a real browser: Debian's chromium package
// (installed by scripts/test), driven through the DevTools protocol by
// chromedp. A missing browser fails the test with what to install: the
// page must not go untested in CI.

// browserPath finds Chromium: $CHROMIUM, else chromium or
// chromium-browser on PATH.
func browserPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("the status page tests need Chromium: install Debian's chromium package (scripts/test does), " +
		"or name the browser's binary in $CHROMIUM")
	return ""
}

// newBrowser starts a headless Chromium and returns a tab's context.
func newBrowser(t *testing.T, width, height int) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browserPath(t)),
		chromedp.NoSandbox, // CI runs as root, where Chromium's sandbox cannot start
		chromedp.DisableGPU,
		chromedp.WindowSize(width, height),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	return ctx
}

// artifactDir is where tests keep what a person should be able to look at
// afterwards (screenshots): $DROVER_TEST_ARTIFACTS, else a directory below
// the system's temporary directory, which the test names in its log.
func artifactDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("DROVER_TEST_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "drover-test-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// run runs browser actions with a deadline.
func run(t *testing.T, ctx context.Context, timeout time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := chromedp.Do(tctx, actions...); err != nil {
		t.Fatalf("browser: %v", err)
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(tctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// pollPage waits until the expression is true in the page, which refreshes
// itself: the test never reloads it.
func pollPage(t *testing.T, ctx context.Context, timeout time.Duration, what, expr string) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if _, err := chromedp.Run(tctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(100*time.Millisecond))); err != nil {
		t.Fatalf("waiting for the page to show %s: %v", what, err)
	}
}

// TestStatusPageInBrowser loads the status page in Chromium from a drover
// running a real pipeline, and checks what a person sees: the login form
// without the token; with it, the pipeline graph, the failing sink shown
// as failing with its error, the targets with the stalled stream's lag and
// the excluded tasks and file with their rules; then, without reloading, the sink
// recovering and the stream caught up. A screenshot of each phase is kept.
func TestStatusPageInBrowser(t *testing.T) {
	o := startObserved(t)
	o.waitStalled(t)
	ctx := newBrowser(t, 1400, 1000)
	page := "http://" + o.d.admin + "/"

	// Without the token the page asks for it and shows no data.
	run(t, ctx, 20*time.Second, chromedp.Navigate(page))
	pollPage(t, ctx, 20*time.Second, "the token form", `!document.querySelector('#login').hidden`)
	if n := eval[int](t, ctx, `document.querySelectorAll('#targets tbody tr').length`); n != 0 {
		t.Fatalf("without the token the page shows %d targets", n)
	}
	// The token typed into the form is used from then on.
	run(t, ctx, 20*time.Second,
		chromedp.SendKeys("#token", o.token),
		chromedp.Click("#login button"),
		chromedp.WaitReady(`body[data-loaded="true"]`),
		chromedp.WaitNotVisible("#login"),
	)

	pollPage(t, ctx, 20*time.Second, "the sink failing", `document.querySelector('#sinks tr[data-id="out"]')?.dataset.state === "failing"`)
	sinkRow := eval[string](t, ctx, `document.querySelector('#sinks tr[data-id="out"]').innerText`)
	if !strings.Contains(sinkRow, "retrying (server_error)") || !strings.Contains(sinkRow, "503") {
		t.Errorf("the failing sink's row reads %q; want its retry state and last error", sinkRow)
	}
	if st := eval[string](t, ctx, `document.querySelector('.node[data-id="out"]').dataset.state`); st != "failing" {
		t.Errorf("the sink's node in the graph is %q, want failing", st)
	}
	for _, id := range []string{"tasks", "files", "keep", "out"} {
		if !eval[bool](t, ctx, fmt.Sprintf(`!!document.querySelector('.node[data-id="%s"]')`, id)) {
			t.Errorf("the graph has no node %q", id)
		}
	}
	if n := eval[int](t, ctx, `document.querySelectorAll('#edges path').length`); n != 3 {
		t.Errorf("the graph draws %d edges, want 3 (tasks->keep, files->keep, keep->out)", n)
	}
	apiKey := o.web + "/api/stdout"
	pollPage(t, ctx, 20*time.Second, "web/api stdout behind", fmt.Sprintf(`+document.querySelector('#targets tr[data-key="%s"]')?.dataset.behind > 0`, apiKey))
	apiRow := eval[string](t, ctx, fmt.Sprintf(`document.querySelector('#targets tr[data-key="%s"]').innerText`, apiKey))
	if !strings.Contains(apiRow, "web/api stdout") || !strings.Contains(apiRow, "following") || !strings.Contains(apiRow, "KiB") {
		t.Errorf("the stalled stream's row reads %q", apiRow)
	}
	proxyRow := eval[string](t, ctx, fmt.Sprintf(`document.querySelector('#targets tr[data-key="%s/proxy-envoy/stdout"]').innerText`, o.web))
	if !strings.Contains(proxyRow, "excluded") || !strings.Contains(proxyRow, `exclude.tasks "proxy-*"`) {
		t.Errorf("the excluded proxy's row reads %q", proxyRow)
	}
	quietRow := eval[string](t, ctx, fmt.Sprintf(`document.querySelector('#targets tr[data-key="%s/chatty/stdout"]').innerText`, o.quiet))
	if !strings.Contains(quietRow, `meta drover.exclude = "true"`) {
		t.Errorf("the hinted task's row reads %q", quietRow)
	}
	debug := filepath.Join(o.logDir, "debug-1.log")
	debugRow := eval[string](t, ctx, fmt.Sprintf(`document.querySelector('#targets tr[data-key=%q]').innerText`, debug))
	if !strings.Contains(debugRow, "excluded") || !strings.Contains(debugRow, "debug-*.log") {
		t.Errorf("the excluded file's row reads %q", debugRow)
	}
	// A lag in seconds is shown with three digits, not seventeen.
	tasksDetail := eval[string](t, ctx, `document.querySelector('#details .detail[data-id="tasks"]').innerText`)
	if !regexp.MustCompile(`discovery lag seconds\s+\d+(\.\d{1,3})?(e-\d+)?\n`).MatchString(tasksDetail) {
		t.Errorf("the nomad_logs source's detail reads %q", tasksDetail)
	}
	// The filter narrows the table to what matches.
	run(t, ctx, 10*time.Second, chromedp.SendKeys("#filter", "app.log"))
	if rows := eval[[]string](t, ctx, `[...document.querySelectorAll('#targets tbody tr')].map(r => r.innerText)`); len(rows) != 1 || !strings.Contains(rows[0], "app.log") {
		t.Errorf("filtered on app.log the table shows %q", rows)
	}
	eval[bool](t, ctx, `(() => { const f = document.querySelector('#filter'); f.value = ''; return f.dispatchEvent(new Event('input')); })()`)
	screenshot(t, ctx, "status-page-failing-sink.png")

	// The destination takes events again: the page, refreshing itself,
	// shows the sink ok and the stream caught up.
	o.recv.setStatus(0)
	pollPage(t, ctx, 60*time.Second, "the sink ok again", `document.querySelector('#sinks tr[data-id="out"]')?.dataset.state === "ok"`)
	pollPage(t, ctx, 60*time.Second, "web/api stdout caught up", fmt.Sprintf(`document.querySelector('#targets tr[data-key="%s"]')?.dataset.behind === "0"`, apiKey))
	screenshot(t, ctx, "status-page.png")
}

// screenshot keeps a full-page screenshot as a test artifact.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(tctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	p := filepath.Join(artifactDir(t), name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", p)
}

// TestStatusPageManyTargets loads the status page of a drover that follows
// 2000 files (more than max_open_files, so that some are parked) and
// prints how long the page takes to render them, and to render again when
// the filter changes. The page must stay usable: every target listed, the
// filter answering.
func TestStatusPageManyTargets(t *testing.T) {
	const files = 2000
	base := t.TempDir()
	logs := filepath.Join(base, "logs")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range files {
		appendLines(t, filepath.Join(logs, fmt.Sprintf("svc-%04d.log", i)), fmt.Sprintf("hello from %d", i))
	}
	cfg := writeConfig(t, base, fmt.Sprintf(`
data_dir = %q
admin { address = "127.0.0.1:0" }
source "file" "files" {
  include        = [%q]
  max_open_files = 500
}
sink "file" "out" {
  inputs = ["files"]
  path   = %q
}
`, filepath.Join(base, "data"), filepath.Join(logs, "*.log"), filepath.Join(base, "out.ndjson")))
	d := startDrover(t, cfg)
	waitUntil(t, 60*time.Second, "every file read", func() bool {
		return d.metric("drover_component_sent_events_total", `component_id="out"`) >= files
	})

	ctx := newBrowser(t, 1400, 1000)
	start := time.Now()
	run(t, ctx, 60*time.Second, chromedp.Navigate("http://"+d.admin+"/"), chromedp.WaitReady(`body[data-loaded="true"]`))
	loaded := time.Since(start)
	// The first 500, most behind first, and the way to the others.
	rows := eval[int](t, ctx, `document.querySelectorAll('#targets tbody tr[data-key]').length`)
	more := eval[string](t, ctx, `document.querySelector('#targets tr.more')?.innerText ?? ''`)
	if rows != 500 || !strings.Contains(more, "1500 more") {
		t.Fatalf("the page lists %d targets and %q, want 500 and 1500 more", rows, more)
	}
	if count := eval[string](t, ctx, `document.querySelector('#target-count').innerText`); count != fmt.Sprintf("(%d)", files) {
		t.Errorf("target count reads %q", count)
	}
	render := eval[string](t, ctx, `document.body.dataset.renderMs`)
	allMs := eval[float64](t, ctx, `(() => {
		const t0 = performance.now();
		document.querySelector('#show-all').click();
		return performance.now() - t0;
	})()`)
	if rows := eval[int](t, ctx, `document.querySelectorAll('#targets tbody tr[data-key]').length`); rows != files {
		t.Fatalf("after show all the page lists %d targets, want %d", rows, files)
	}
	parked := eval[int](t, ctx, `document.querySelectorAll('#targets tbody tr[data-state="parked"]').length`)
	if parked == 0 {
		t.Errorf("no target shown parked with %d files and max_open_files = 500", files)
	}
	filterMs := eval[float64](t, ctx, `(() => {
		const f = document.querySelector('#filter');
		f.value = 'svc-1999';
		const t0 = performance.now();
		f.dispatchEvent(new Event('input'));
		return performance.now() - t0;
	})()`)
	if n := eval[int](t, ctx, `document.querySelectorAll('#targets tbody tr').length`); n != 1 {
		t.Errorf("filtered on svc-1999 the table has %d rows", n)
	}
	t.Logf("status page with %d targets (%d parked): loaded and rendered in %v; render (500 rows) %s ms, all %d rows %.1f ms, filter %.1f ms",
		files, parked, loaded.Round(time.Millisecond), render, files, allMs, filterMs)
	screenshot(t, ctx, "status-page-2000-targets.png")
}
