package kubetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

func pod(ns, name, node string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"app": name}},
		Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "main", Image: "busybox"}}},
	}
}

func client(t *testing.T, s *Server) kubernetes.Interface {
	t.Helper()
	c, err := kubernetes.NewForConfig(s.Config())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestListPagesAndSelectors(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	for i := range 7 {
		node := "n1"
		if i%2 == 1 {
			node = "n2"
		}
		s.CreatePod(pod("a", fmt.Sprintf("p%d", i), node))
	}
	c := client(t, s)
	ctx := context.Background()
	var names []string
	opts := metav1.ListOptions{FieldSelector: "spec.nodeName=n1", Limit: 2}
	pages := 0
	var listRV string
	for {
		l, err := c.CoreV1().Pods("").List(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if listRV == "" {
			listRV = l.ResourceVersion
		} else if l.ResourceVersion != listRV {
			t.Fatalf("pages of one list at resourceVersions %s and %s", listRV, l.ResourceVersion)
		}
		for _, p := range l.Items {
			names = append(names, p.Name)
		}
		if l.Continue == "" {
			break
		}
		opts.Continue = l.Continue
	}
	if got := strings.Join(names, ","); got != "p0,p2,p4,p6" || pages != 2 {
		t.Fatalf("names %s in %d pages", got, pages)
	}
	l, err := c.CoreV1().Pods("a").List(ctx, metav1.ListOptions{LabelSelector: "app in (p1,p2)"})
	if err != nil || len(l.Items) != 2 {
		t.Fatalf("label selector: %v %v", l, err)
	}
	if _, err := c.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.hostname=x"}); !apierrors.IsBadRequest(err) {
		t.Fatalf("unsupported field label: %v", err)
	}
	got, err := c.CoreV1().Pods("a").Get(ctx, "p3", metav1.GetOptions{})
	if err != nil || got.Spec.NodeName != "n2" || got.UID == "" {
		t.Fatalf("get: %+v %v", got, err)
	}
	if _, err := c.CoreV1().Pods("a").Get(ctx, "nope", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("get missing: %v", err)
	}
	if n := s.Requests(VerbGet, Pods); n != 2 {
		t.Fatalf("counted %d gets", n)
	}
	// A continue token older than the history is 410 Expired.
	l, _ = c.CoreV1().Pods("").List(ctx, metav1.ListOptions{Limit: 1})
	s.CreatePod(pod("a", "late", "n1"))
	s.Compact()
	if _, err := c.CoreV1().Pods("").List(ctx, metav1.ListOptions{Limit: 1, Continue: l.Continue}); !apierrors.IsResourceExpired(err) {
		t.Fatalf("old continue: %v", err)
	}
}

// collect reads events of a client-go watch until n arrived.
func collect(t *testing.T, w watch.Interface, n int) []watch.Event {
	t.Helper()
	var out []watch.Event
	timeout := time.After(10 * time.Second)
	for len(out) < n {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatalf("watch ended after %d events: %+v", len(out), out)
			}
			out = append(out, ev)
		case <-timeout:
			t.Fatalf("%d of %d events", len(out), n)
		}
	}
	return out
}

func TestWatchResumesAndExpires(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	c := client(t, s)
	ctx := context.Background()
	s.CreatePod(pod("a", "p1", "n1"))
	l, err := c.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.CreatePod(pod("a", "p2", "n1"))
	s.CreatePod(pod("a", "other", "n2"))
	p := s.Pod("a", "p2")
	p.Labels["v"] = "2"
	s.UpdatePod(p)
	s.DeletePod("a", "p1")

	w, err := c.CoreV1().Pods("").Watch(ctx, metav1.ListOptions{ResourceVersion: l.ResourceVersion,
		FieldSelector: fields.OneTermEqualSelector("spec.nodeName", "n1").String(), AllowWatchBookmarks: true})
	if err != nil {
		t.Fatal(err)
	}
	evs := collect(t, w, 3)
	want := []watch.EventType{watch.Added, watch.Modified, watch.Deleted}
	for i, ev := range evs {
		p := ev.Object.(*corev1.Pod)
		if ev.Type != want[i] {
			t.Fatalf("event %d: %s %s", i, ev.Type, p.Name)
		}
	}
	if p := evs[2].Object.(*corev1.Pod); p.Name != "p1" || p.UID == "" {
		t.Fatalf("deleted object: %+v", p)
	}
	s.Bookmark()
	ev := collect(t, w, 1)[0]
	if ev.Type != watch.Bookmark || ev.Object.(*corev1.Pod).ResourceVersion != fmt.Sprint(s.ResourceVersion()) {
		t.Fatalf("bookmark: %+v", ev)
	}
	// A dropped connection ends the watch: the client sees the end of its
	// result channel.
	s.DropWatches()
	select {
	case _, ok := <-w.ResultChan():
		if ok {
			t.Fatal("event after the drop")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("dropped watch did not end")
	}
	// From an old resourceVersion after compaction: ERROR 410.
	s.Compact()
	w, err = c.CoreV1().Pods("").Watch(ctx, metav1.ListOptions{ResourceVersion: l.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	ev = collect(t, w, 1)[0]
	if ev.Type != watch.Error || !apierrors.IsResourceExpired(apierrors.FromObject(ev.Object)) {
		t.Fatalf("expected 410: %+v", ev)
	}
}

// TestWireFormat reads a watch stream as bytes: one JSON event per line,
// chunked, kind and apiVersion on the objects, a watch-list bookmark
// annotated as the end of the initial events.
func TestWireFormat(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	s.CreatePod(pod("a", "p1", "n1"))
	resp, err := http.Get(s.URL() + "/api/v1/pods?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if len(resp.TransferEncoding) == 0 || resp.TransferEncoding[0] != "chunked" {
		t.Fatalf("transfer encoding %v", resp.TransferEncoding)
	}
	body, err := io.ReadAll(resp.Body) // the 1 s timeout ends the stream cleanly
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(body), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines: %s", len(lines), body)
	}
	var ev struct {
		Type   string
		Object struct {
			Kind, APIVersion string
			Metadata         metav1.ObjectMeta
		}
	}
	if err := json.Unmarshal([]byte(lines[0]), &ev); err != nil || ev.Type != "ADDED" || ev.Object.Kind != "Pod" || ev.Object.APIVersion != "v1" || ev.Object.Metadata.Name != "p1" {
		t.Fatalf("%s: %+v %v", lines[0], ev, err)
	}
	if err := json.Unmarshal([]byte(lines[1]), &ev); err != nil || ev.Type != "BOOKMARK" || ev.Object.Metadata.Annotations[metav1.InitialEventsAnnotationKey] != "true" {
		t.Fatalf("%s: %+v %v", lines[1], ev, err)
	}

	s2 := New(Options{NoWatchList: true})
	defer s2.Close()
	resp, err = http.Get(s2.URL() + "/api/v1/pods?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("watch-list on a server without it: %d", resp.StatusCode)
	}
}

// recorder is an informer handler that keeps the pods it was told of.
type recorder struct {
	mu      sync.Mutex
	pods    map[string]string // name -> resourceVersion
	deleted []string
}

func (r *recorder) handler() cache.ResourceEventHandlerFuncs {
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(o any) {
			p := o.(*corev1.Pod)
			r.mu.Lock()
			r.pods[p.Name] = p.ResourceVersion
			r.mu.Unlock()
		},
		UpdateFunc: func(_, o any) {
			p := o.(*corev1.Pod)
			r.mu.Lock()
			r.pods[p.Name] = p.ResourceVersion
			r.mu.Unlock()
		},
		DeleteFunc: func(o any) {
			if d, ok := o.(cache.DeletedFinalStateUnknown); ok {
				o = d.Obj
			}
			p := o.(*corev1.Pod)
			r.mu.Lock()
			delete(r.pods, p.Name)
			r.deleted = append(r.deleted, p.Name)
			r.mu.Unlock()
		},
	}
}

func (r *recorder) state() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var names []string
	for n := range r.pods {
		names = append(names, n)
	}
	return fmt.Sprint(sorted(names))
}

func sorted(s []string) []string {
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestInformer runs client-go's shared informer, node-scoped, against the
// server in both start modes (watch-list, and list + watch on a server
// without watch-list) through drops, clean ends and a 410.
func TestInformer(t *testing.T) {
	for _, noWatchList := range []bool{false, true} {
		t.Run(fmt.Sprintf("noWatchList=%v", noWatchList), func(t *testing.T) {
			s := New(Options{NoWatchList: noWatchList, BookmarkInterval: 50 * time.Millisecond})
			defer s.Close()
			s.CreatePod(pod("a", "p1", "n1"))
			s.CreatePod(pod("a", "x1", "n2"))
			f := informers.NewSharedInformerFactoryWithOptions(client(t, s), 0,
				informers.WithTweakListOptions(func(o *metav1.ListOptions) {
					o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", "n1").String()
				}))
			inf := f.Core().V1().Pods().Informer()
			rec := &recorder{pods: map[string]string{}}
			if _, err := inf.AddEventHandler(rec.handler()); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer func() { cancel(); f.Shutdown() }()
			f.Start(ctx.Done())
			if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
				t.Fatal("no sync")
			}
			if got := rec.state(); got != "[p1]" {
				t.Fatalf("after sync: %s", got)
			}
			lists := s.Requests(VerbList, Pods)
			if noWatchList && lists != 1 || !noWatchList && lists != 0 {
				t.Fatalf("%d lists at start", lists)
			}
			s.CreatePod(pod("a", "p2", "n1"))
			waitFor(t, "p2", func() bool { return rec.state() == "[p1 p2]" })
			// Bookmarks move the informer's resourceVersion along.
			rv := fmt.Sprint(s.ResourceVersion())
			waitFor(t, "a bookmark", func() bool { return inf.LastSyncResourceVersion() == rv })

			// A dropped watch and a cleanly ended one are resumed from the
			// last resourceVersion, without a consistent list (client-go may
			// list from that resourceVersion: the watch cache serves it);
			// what happened while it was down arrives.
			consistent := s.ConsistentLists(Pods)
			watches := s.Requests(VerbWatch, Pods)
			for _, fault := range []func(){s.DropWatches, s.EndWatches} {
				fault()
				s.CreatePod(pod("a", fmt.Sprintf("q%d", watches), "n1"))
				s.DeletePod("a", fmt.Sprintf("q%d", watches))
				waitFor(t, "a new watch", func() bool { return s.Requests(VerbWatch, Pods) > watches && s.Watches(Pods) == 1 })
				watches = s.Requests(VerbWatch, Pods)
			}
			waitFor(t, "the deletes", func() bool {
				rec.mu.Lock()
				defer rec.mu.Unlock()
				return len(rec.deleted) == 2
			})
			if n := s.ConsistentLists(Pods); n != consistent {
				t.Fatalf("resuming watches listed the whole state %d times", n-consistent)
			}

			// 410: the watch is expired; the informer lists (or watch-lists)
			// again and sees what it missed, deletions included.
			s.Expire()
			s.DeletePod("a", "p1")
			s.CreatePod(pod("a", "p3", "n1"))
			waitFor(t, "state after 410", func() bool { return rec.state() == "[p2 p3]" })
			if noWatchList && s.Requests(VerbList, Pods) == lists {
				t.Fatal("no list after 410")
			}
			if n := s.Requests(VerbGet, Pods); n != 0 {
				t.Fatalf("%d pod GETs", n)
			}
		})
	}
}

func TestFail(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	c := client(t, s)
	s.Fail(http.StatusServiceUnavailable)
	_, err := c.CoreV1().Namespaces().List(context.Background(), metav1.ListOptions{})
	if !apierrors.IsServiceUnavailable(err) {
		t.Fatalf("fail: %v", err)
	}
	s.Fail(0)
	s.CreateNamespace(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "a", Labels: map[string]string{"team": "x"}}})
	l, err := c.CoreV1().Namespaces().List(context.Background(), metav1.ListOptions{})
	if err != nil || len(l.Items) != 1 || l.Items[0].Labels["team"] != "x" {
		t.Fatalf("%+v %v", l, err)
	}
	var se *apierrors.StatusError
	_, err = c.CoreV1().Namespaces().Get(context.Background(), "b", metav1.GetOptions{})
	if !errors.As(err, &se) || se.ErrStatus.Code != http.StatusNotFound {
		t.Fatalf("%v", err)
	}
}
