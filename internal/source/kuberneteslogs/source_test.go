package kuberneteslogs

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/drover-dev/drover/internal/event"
	"github.com/drover-dev/drover/internal/kubetest/podlogs"
)

// Every line comes with its pod's metadata, the runtime's time and its
// stream; lines the runtime split (containerd's 16384-byte P records,
// docker's 16 KiB pieces) arrive whole, per stream, also when the pieces
// of stdout and stderr interleave.
func TestDecodesAndRejoinsPerStream(t *testing.T) {
	for _, rt := range []podlogs.Runtime{podlogs.CRI, podlogs.Docker} {
		name := map[podlogs.Runtime]string{podlogs.CRI: "cri", podlogs.Docker: "docker"}[rt]
		t.Run(name, func(t *testing.T) {
			c := newCluster(t)
			c.srv.CreateNamespace(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "apps", Labels: map[string]string{"team": "payments"}}})
			pod, ws := c.pod("apps", "api", rt, "app")
			w := ws[0]
			r := c.run(t, nil)
			long := strings.Repeat("o", 40000)
			longErr := strings.Repeat("e", 20000)
			// Interleave the pieces of the two streams.
			must(t, w.Write("stdout", []byte("out-long-"+long[:20000])))
			must(t, w.Write("stderr", []byte("err-long-"+longErr)))
			must(t, w.Write("stdout", []byte(long[20000:]+"\n")))
			must(t, w.Write("stderr", []byte("\n")))
			must(t, w.WriteLine("stdout", "short one"))
			waitFor(t, "the lines", func() bool { return len(r.rec.find("short one")) == 1 })
			out := r.rec.find("out-long-")
			if len(out) != 1 || out[0].msg != "out-long-"+long {
				t.Fatalf("stdout long line: %d events, want one of %d bytes", len(out), len(long)+9)
			}
			errs := r.rec.find("err-long-")
			if len(errs) != 1 || errs[0].msg != "err-long-"+longErr {
				t.Fatalf("stderr long line: %d events, want one whole", len(errs))
			}
			g := out[0]
			if g.field("stream") != "stdout" || errs[0].field("stream") != "stderr" {
				t.Errorf("streams: %q, %q", g.field("stream"), errs[0].field("stream"))
			}
			if g.ts.Year() != 2026 || g.ts.Month() != 12 {
				t.Errorf("timestamp %v is not the runtime's", g.ts)
			}
			if g.flags != 0 {
				t.Errorf("flags %v", g.flags)
			}
			for path, want := range map[string]string{
				"kubernetes.namespace":             "apps",
				"kubernetes.pod_name":              "api",
				"kubernetes.pod_uid":               string(pod.UID),
				"kubernetes.container_name":        "app",
				"kubernetes.container_image":       "registry/app:1",
				"kubernetes.node_name":             testNode,
				"kubernetes.labels.app":            "api",
				"kubernetes.namespace_labels.team": "payments",
				"source_type":                      "kubernetes_logs",
			} {
				if got := g.field(path); got != want {
					t.Errorf("%s = %q, want %q (%s)", path, got, want, g.json)
				}
			}
			// Metadata is shared by reference.
			short := r.rec.find("short one")[0]
			if short.e.Meta != g.e.Meta {
				t.Error("two lines of one container carry two metadata values")
			}
			if n := testutil.ToFloat64(r.src.sm.joined); n != 2 {
				t.Errorf("lines_joined_total = %v, want 2", n)
			}
		})
	}
}

// A line longer than max_merged_line_bytes is cut there, marked
// truncated, and the lines after it are whole.
func TestJoinedLineBounded(t *testing.T) {
	c := newCluster(t)
	_, ws := c.pod("apps", "api", podlogs.CRI, "app")
	cfg := c.config()
	cfg.MaxMergedLineBytes = 20000
	r := c.run(t, cfg)
	must(t, ws[0].WriteLine("stdout", "big-"+strings.Repeat("x", 100000)))
	must(t, ws[0].WriteLine("stdout", "after"))
	waitFor(t, "the line after", func() bool { return len(r.rec.find("after")) == 1 })
	big := r.rec.find("big-")
	if len(big) != 1 || len(big[0].msg) != 20000 || big[0].flags&event.Truncated == 0 {
		t.Fatalf("big line: %d events (%d bytes, flags %v), want one of 20000 bytes marked truncated", len(big), len(big[0].msg), big[0].flags)
	}
}

// Pieces whose last piece never comes (the container was killed in the
// middle of a line) go out flagged partial after partial_line_timeout,
// and their batch's acknowledgement moves the position only then.
func TestUnfinishedSplitLineFlushed(t *testing.T) {
	c := newCluster(t)
	_, ws := c.pod("apps", "api", podlogs.CRI, "app")
	r := c.run(t, nil)
	must(t, ws[0].Write("stdout", []byte("cut-"+strings.Repeat("y", 17000))))
	waitFor(t, "the flushed piece", func() bool { return len(r.rec.find("cut-")) == 1 })
	g := r.rec.find("cut-")[0]
	if g.flags&event.Partial == 0 || len(g.msg) != 16384 {
		t.Fatalf("flushed piece: %d bytes, flags %v; want the 16384-byte piece flagged partial", len(g.msg), g.flags)
	}
	if n := testutil.ToFloat64(r.src.sm.partialFlushed); n != 1 {
		t.Errorf("partial_lines_flushed_total = %v", n)
	}
}

// A line that is not a runtime record is shipped as it is and counted.
func TestUndecodableLineShippedAndCounted(t *testing.T) {
	c := newCluster(t)
	_, ws := c.pod("apps", "api", podlogs.CRI, "app")
	r := c.run(t, nil)
	appendRaw(t, ws[0].Path(), "not a CRI line\n")
	must(t, ws[0].WriteLine("stdout", "fine"))
	waitFor(t, "both lines", func() bool { return len(r.rec.find("fine")) == 1 })
	if len(r.rec.find("not a CRI line")) != 1 {
		t.Fatal("the undecodable line was not shipped")
	}
	if n := testutil.ToFloat64(r.src.sm.decodeErrors); n != 1 {
		t.Errorf("decode_errors_total = %v, want 1", n)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
