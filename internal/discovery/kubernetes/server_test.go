package kubernetes

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/drover-dev/drover/internal/health"
	"github.com/drover-dev/drover/internal/kubetest"
	"github.com/drover-dev/drover/internal/kubetest/podlogs"
)

// serverClient is the client drover builds (NewClient), for the server.
func serverClient(t testing.TB, s *kubetest.Server) Client {
	t.Helper()
	c, err := NewClient(s.Config())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestAgainstAPIServer runs discovery against the list/watch test server:
// only this node's pods, watches resumed after drops and clean ends
// without a read of the whole state from etcd (client-go may list from
// the last resourceVersion, which the watch cache serves), a list after
// 410 that reports the pods deleted meanwhile, and never a GET per pod.
func TestAgainstAPIServer(t *testing.T) {
	for _, noWatchList := range []bool{false, true} {
		t.Run(fmt.Sprintf("noWatchList=%v", noWatchList), func(t *testing.T) {
			s := kubetest.New(kubetest.Options{NoWatchList: noWatchList, BookmarkInterval: 50 * time.Millisecond})
			defer s.Close()
			s.CreateNamespace(newNamespace("apps", nil))
			s.CreatePod(newPod("apps", "a", "ua", "main"))
			other := newPod("apps", "elsewhere", "ue", "main")
			other.Spec.NodeName = "n2"
			s.CreatePod(other)
			h := start(t, serverClient(t, s), nil)
			full := h.next()
			if len(full) != 1 || full[0].Key != "ua" {
				t.Fatalf("full set: %+v", full)
			}
			lists := s.ConsistentLists(kubetest.Pods)

			s.DropWatches()
			s.CreatePod(newPod("apps", "b", "ub", "main"))
			if g := h.group("ub"); targetKeys(g) != "ub/main" {
				t.Fatalf("after a drop: %+v", g)
			}
			s.EndWatches()
			s.DeletePod("apps", "b")
			if g := h.group("ub"); !g.Gone {
				t.Fatalf("deleted after a clean end: %+v", g)
			}
			if n := s.ConsistentLists(kubetest.Pods); n != lists {
				t.Fatalf("%d consistent lists to resume watches", n-lists)
			}

			// 410: the pod deleted and the one created while the watch was
			// expired both arrive (the relist's replace reports the delete).
			s.Expire()
			s.DeletePod("apps", "a")
			s.CreatePod(newPod("apps", "c", "uc", "main"))
			seen := map[string]bool{}
			for !seen["ua-gone"] || !seen["uc"] {
				for _, g := range h.next() {
					switch {
					case g.Key == "ua" && g.Gone:
						seen["ua-gone"] = true
					case g.Key == "uc" && len(g.Targets) == 1:
						seen["uc"] = true
					case g.Key == "ue":
						t.Fatalf("a pod of another node: %+v", g)
					}
				}
			}
			if n := s.Requests(kubetest.VerbGet, kubetest.Pods); n != 0 {
				t.Fatalf("%d pod GETs", n)
			}
			// The start and the relist after 410 (a list, or a watch-list;
			// client-go also restarts a dropped watch-list as one).
			if n := testutil.ToFloat64(h.m.Requests(resourcePods, "list")); n < 2 {
				t.Fatalf("requests_total{pods,list} = %v", n)
			}
			if h.health.State() != health.OK {
				t.Fatalf("health %v", h.health.Conditions())
			}
		})
	}
}

// TestAPIUnavailable: with the API failing from the start, files on disk
// are shipped with the metadata of their path (reason api_unavailable)
// and the "api" condition is failing; when the API answers, the condition
// clears and the pod gets the API's metadata.
func TestAPIUnavailable(t *testing.T) {
	s := kubetest.New(kubetest.Options{})
	defer s.Close()
	s.Fail(http.StatusServiceUnavailable)
	root := t.TempDir()
	w := &podlogs.Container{Root: root, Namespace: "apps", Pod: "a", UID: "ua", Name: "main"}
	must(t, w.WriteLine("stdout", "x"))
	h := startWaiting(t, serverClient(t, s), func(c *Config) { c.PodLogsDir = root; c.UnknownPodWait = time.Second }, 500*time.Millisecond)
	if full := h.next(); len(full) != 1 || full[0].Targets[0].Meta != nil {
		t.Fatalf("full set: %+v", full)
	}
	if g := h.group("ua"); !contains(metaJSON(g.Targets[0].Meta), `"pod_name":"a","pod_uid":"ua"`) {
		t.Fatalf("path metadata: %s", metaJSON(g.Targets[0].Meta))
	}
	if n := testutil.ToFloat64(h.m.PathMetadata(ReasonAPIUnavailable)); n != 1 {
		t.Fatalf("path_metadata_total{api_unavailable} = %v", n)
	}
	waitUntil(t, "the api condition", func() bool { return h.health.State() == health.Failing })
	if c := h.health.Conditions(); len(c) != 1 || c[0].Name != health.ConditionAPI {
		t.Fatalf("conditions %+v", c)
	}
	s.CreatePod(newPod("apps", "a", "ua", "main"))
	s.Fail(0)
	g := h.group("ua")
	if !contains(metaJSON(g.Targets[0].Meta), `"container_image":"registry/main:1"`) {
		t.Fatalf("API metadata after recovery: %s", metaJSON(g.Targets[0].Meta))
	}
	waitUntil(t, "recovery", func() bool { return h.health.State() == health.OK })
}
