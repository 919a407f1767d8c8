// Package kubetest is a Kubernetes API server for tests: it serves pods and
// namespaces over the real list/watch wire format of kube-apiserver, so
// that client-go informers (and so drover's pod discovery) run against it
// exactly as against a cluster.
//
// What it speaks, as kube-apiserver does:
//
//   - GET /api/v1/pods, /api/v1/namespaces/<ns>/pods, /api/v1/namespaces:
//     lists (JSON of k8s.io/api types, kind PodList/NamespaceList,
//     metadata.resourceVersion), with limit and continue (pages in key
//     order), fieldSelector (spec.nodeName, metadata.name,
//     metadata.namespace, status.phase for pods; metadata.name for
//     namespaces) and labelSelector; GET of one pod or namespace.
//   - ?watch=true: a chunked stream of watch events, one JSON object per
//     line ({"type":"ADDED","object":{...}}), from resourceVersion N
//     (every change after N), or from "" and "0" (synthetic ADDED events
//     of the current state first); timeoutSeconds ends the stream cleanly.
//   - Bookmarks (allowWatchBookmarks=true): BOOKMARK events whose object
//     holds only kind, apiVersion and metadata.resourceVersion, sent by
//     Bookmark and every Options.BookmarkInterval.
//   - Watch-list (sendInitialEvents=true, resourceVersionMatch=NotOlderThan,
//     what client-go's reflector asks first since 1.35): ADDED events of
//     the current state, then a BOOKMARK annotated
//     "k8s.io/initial-events-end": "true". Options.NoWatchList answers it
//     with 422 Invalid, as a server without the WatchList feature does,
//     and client-go falls back to list + watch.
//   - 410 Gone: a watch from a resourceVersion older than the history the
//     server kept (Compact drops it, Options.HistoryLimit bounds it) gets
//     an ERROR event with a Status{Code: 410, Reason: Expired} and the
//     stream ends, as the watch cache does; Expire sends the same to every
//     open watch; a continue token older than the history gets HTTP 410.
//   - Faults: DropWatches closes every watch connection without ending
//     the chunked stream (a proxy or apiserver that went away), EndWatches
//     ends them cleanly (the apiserver's own timeout), Fail answers every
//     request with a status code until Fail(0).
//
// Requests are counted (Requests, ConsistentLists) so that tests can prove
// that a client does no per-pod GET and reads the whole state from etcd
// (a list without resourceVersion) only when it must.
package kubetest

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
)

// Options configure a Server.
type Options struct {
	// NoWatchList answers watch-list requests (sendInitialEvents=true) with
	// 422 Invalid, like a server without the WatchList feature.
	NoWatchList bool
	// BookmarkInterval, when positive, sends a BOOKMARK to every watch that
	// allows them at this period (kube-apiserver: about a minute).
	BookmarkInterval time.Duration
	// HistoryLimit is how many changes the server keeps for watches that
	// resume from a resourceVersion; older ones get 410 Gone. Default 10000.
	HistoryLimit int
	// WatchBuffer is how many events a watch may fall behind before the
	// server closes it, as the watch cache closes unresponsive watchers.
	// Default 10000.
	WatchBuffer int
}

// Resources of the server.
const (
	Pods       = "pods"
	Namespaces = "namespaces"
)

// Request verbs counted by Requests.
const (
	VerbList  = "list"
	VerbWatch = "watch"
	VerbGet   = "get"
)

// Server is a Kubernetes API server of pods and namespaces.
type Server struct {
	opts Options
	hs   *httptest.Server

	mu         sync.Mutex
	rv         uint64
	pods       map[string]*corev1.Pod // "<namespace>/<name>"
	namespaces map[string]*corev1.Namespace
	history    []change // ascending rv, at most HistoryLimit
	oldest     uint64   // a watch from rv < oldest is too old
	watches    map[*watchConn]struct{}
	requests   map[string]int // "<verb> <resource>"
	consistent map[string]int // lists without resourceVersion, by resource
	failCode   int
	uids       uint64
	stop       chan struct{}
	stopOnce   sync.Once
}

// change is one entry of the history.
type change struct {
	rv       uint64
	resource string
	typ      watch.EventType
	obj      objectRef
}

// objectRef is what selectors need of an object and its wire form.
type objectRef struct {
	namespace, name string
	fields          fields.Set
	labels          labels.Set
	json            []byte
}

// New starts a server; Close stops it.
func New(opts Options) *Server {
	if opts.HistoryLimit <= 0 {
		opts.HistoryLimit = 10000
	}
	if opts.WatchBuffer <= 0 {
		opts.WatchBuffer = 10000
	}
	s := &Server{
		opts: opts, rv: 1, oldest: 1,
		pods: make(map[string]*corev1.Pod), namespaces: make(map[string]*corev1.Namespace),
		watches: make(map[*watchConn]struct{}), requests: make(map[string]int), consistent: make(map[string]int),
		stop: make(chan struct{}),
	}
	s.hs = httptest.NewServer(http.HandlerFunc(s.serve))
	if opts.BookmarkInterval > 0 {
		go s.bookmarkLoop(opts.BookmarkInterval)
	}
	return s
}

// URL is the server's base URL.
func (s *Server) URL() string { return s.hs.URL }

// Config is a client-go configuration for the server, without rate limits.
func (s *Server) Config() *rest.Config {
	return &rest.Config{Host: s.hs.URL, QPS: -1}
}

// Close ends every watch and stops the server.
func (s *Server) Close() {
	s.stopOnce.Do(func() { close(s.stop) })
	s.EndWatches()
	s.hs.CloseClientConnections()
	s.hs.Close()
}

// ResourceVersion is the server's current resourceVersion.
func (s *Server) ResourceVersion() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rv
}

// Requests returns how many requests of a verb (VerbList, VerbWatch,
// VerbGet) for a resource (Pods, Namespaces) the server answered.
func (s *Server) Requests(verb, resource string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[verb+" "+resource]
}

// ConsistentLists returns how many lists of a resource asked for the most
// recent state (no resourceVersion, no continue): on kube-apiserver the
// reads that go to etcd, where a list from a resourceVersion is served
// from the watch cache.
func (s *Server) ConsistentLists(resource string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.consistent[resource]
}

// Fail makes the server answer every request with code (a 503, a 500, a
// 403) until Fail(0). Open watches are not touched.
func (s *Server) Fail(code int) {
	s.mu.Lock()
	s.failCode = code
	s.mu.Unlock()
}

// CreateNamespace adds a namespace and returns it as stored.
func (s *Server) CreateNamespace(ns *corev1.Namespace) *corev1.Namespace {
	s.mu.Lock()
	defer s.mu.Unlock()
	ns = ns.DeepCopy()
	if _, ok := s.namespaces[ns.Name]; ok {
		panic("kubetest: namespace exists: " + ns.Name)
	}
	s.stampLocked(&ns.ObjectMeta, true)
	ns.Status.Phase = corev1.NamespaceActive
	s.namespaces[ns.Name] = ns
	s.recordLocked(Namespaces, watch.Added, nsRef(ns))
	return ns.DeepCopy()
}

// UpdateNamespace replaces a namespace (its labels, annotations).
func (s *Server) UpdateNamespace(ns *corev1.Namespace) *corev1.Namespace {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.namespaces[ns.Name]
	if !ok {
		panic("kubetest: no namespace " + ns.Name)
	}
	ns = ns.DeepCopy()
	ns.UID, ns.CreationTimestamp = old.UID, old.CreationTimestamp
	s.stampLocked(&ns.ObjectMeta, false)
	s.namespaces[ns.Name] = ns
	s.recordLocked(Namespaces, watch.Modified, nsRef(ns))
	return ns.DeepCopy()
}

// DeleteNamespace removes a namespace (not its pods).
func (s *Server) DeleteNamespace(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ns, ok := s.namespaces[name]
	if !ok {
		panic("kubetest: no namespace " + name)
	}
	delete(s.namespaces, name)
	ns = ns.DeepCopy()
	s.stampLocked(&ns.ObjectMeta, false)
	s.recordLocked(Namespaces, watch.Deleted, nsRef(ns))
}

// CreatePod adds a pod and returns it as stored: a UID when it had none,
// a resourceVersion, a creationTimestamp.
func (s *Server) CreatePod(p *corev1.Pod) *corev1.Pod {
	s.mu.Lock()
	defer s.mu.Unlock()
	p = p.DeepCopy()
	if p.Namespace == "" {
		p.Namespace = "default"
	}
	k := p.Namespace + "/" + p.Name
	if _, ok := s.pods[k]; ok {
		panic("kubetest: pod exists: " + k)
	}
	s.stampLocked(&p.ObjectMeta, true)
	s.pods[k] = p
	s.recordLocked(Pods, watch.Added, podRef(p))
	return p.DeepCopy()
}

// UpdatePod replaces a pod of the same namespace and name; its UID and
// creationTimestamp are kept.
func (s *Server) UpdatePod(p *corev1.Pod) *corev1.Pod {
	s.mu.Lock()
	defer s.mu.Unlock()
	p = p.DeepCopy()
	if p.Namespace == "" {
		p.Namespace = "default"
	}
	k := p.Namespace + "/" + p.Name
	old, ok := s.pods[k]
	if !ok {
		panic("kubetest: no pod " + k)
	}
	p.UID, p.CreationTimestamp = old.UID, old.CreationTimestamp
	s.stampLocked(&p.ObjectMeta, false)
	s.pods[k] = p
	s.recordLocked(Pods, watch.Modified, podRef(p))
	return p.DeepCopy()
}

// DeletePod removes a pod; watches get a DELETED event with its last state.
func (s *Server) DeletePod(namespace, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := namespace + "/" + name
	p, ok := s.pods[k]
	if !ok {
		panic("kubetest: no pod " + k)
	}
	delete(s.pods, k)
	p = p.DeepCopy()
	s.stampLocked(&p.ObjectMeta, false)
	s.recordLocked(Pods, watch.Deleted, podRef(p))
}

// Pod returns a stored pod, or nil.
func (s *Server) Pod(namespace, name string) *corev1.Pod {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.pods[namespace+"/"+name]; p != nil {
		return p.DeepCopy()
	}
	return nil
}

// Compact forgets the history: a watch that resumes from any earlier
// resourceVersion gets 410 Gone. Open watches go on.
func (s *Server) Compact() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.history = nil
	s.oldest = s.rv
}

// Expire compacts the history and ends every open watch with an ERROR
// event 410 Expired, as the watch cache does to a watcher that fell too
// far behind: clients must list again.
func (s *Server) Expire() {
	s.Compact()
	s.forWatches(func(w *watchConn) { w.end(endExpired) })
}

// DropWatches closes the connection of every open watch without ending
// its chunked stream: the client sees an unexpected EOF.
func (s *Server) DropWatches() { s.forWatches(func(w *watchConn) { w.end(endDrop) }) }

// EndWatches ends every open watch cleanly, as the apiserver does when a
// watch's timeout passes.
func (s *Server) EndWatches() { s.forWatches(func(w *watchConn) { w.end(endClean) }) }

// Bookmark sends a BOOKMARK at the current resourceVersion to every watch
// that allows bookmarks.
func (s *Server) Bookmark() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for w := range s.watches {
		if w.bookmarks {
			w.sendLocked(s, wireEvent{Type: watch.Bookmark, Object: bookmarkObject(w.resource, s.rv, false)})
		}
	}
}

// Watches is the number of open watches of a resource.
func (s *Server) Watches(resource string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for w := range s.watches {
		if w.resource == resource {
			n++
		}
	}
	return n
}

func (s *Server) forWatches(f func(*watchConn)) {
	s.mu.Lock()
	ws := make([]*watchConn, 0, len(s.watches))
	for w := range s.watches {
		ws = append(ws, w)
	}
	s.mu.Unlock()
	for _, w := range ws {
		f(w)
	}
}

func (s *Server) bookmarkLoop(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.Bookmark()
		}
	}
}

// stampLocked gives an object the next resourceVersion, and a UID and a
// creation time when it is created.
func (s *Server) stampLocked(m *metav1.ObjectMeta, create bool) {
	s.rv++
	m.ResourceVersion = strconv.FormatUint(s.rv, 10)
	if create {
		if m.UID == "" {
			s.uids++
			m.UID = types.UID(fmt.Sprintf("00000000-0000-4000-8000-%012x", s.uids))
		}
		if m.CreationTimestamp.IsZero() {
			m.CreationTimestamp = metav1.NewTime(time.Now().Truncate(time.Second))
		}
	}
}

// recordLocked appends a change at the current rv and sends it to the
// watches it matches.
func (s *Server) recordLocked(resource string, typ watch.EventType, obj objectRef) {
	c := change{rv: s.rv, resource: resource, typ: typ, obj: obj}
	s.history = append(s.history, c)
	if over := len(s.history) - s.opts.HistoryLimit; over > 0 {
		s.oldest = s.history[over-1].rv
		s.history = slices.Delete(s.history, 0, over)
	}
	for w := range s.watches {
		if w.resource == resource && w.matches(&obj) {
			w.sendLocked(s, wireEvent{Type: typ, Object: obj.json})
		}
	}
}

func podRef(p *corev1.Pod) objectRef {
	p.TypeMeta = metav1.TypeMeta{Kind: "Pod", APIVersion: "v1"}
	b, err := json.Marshal(p)
	if err != nil {
		panic(err)
	}
	return objectRef{
		namespace: p.Namespace, name: p.Name, json: b, labels: labels.Set(p.Labels),
		fields: fields.Set{
			"metadata.name": p.Name, "metadata.namespace": p.Namespace,
			"spec.nodeName": p.Spec.NodeName, "status.phase": string(p.Status.Phase),
		},
	}
}

func nsRef(ns *corev1.Namespace) objectRef {
	ns.TypeMeta = metav1.TypeMeta{Kind: "Namespace", APIVersion: "v1"}
	b, err := json.Marshal(ns)
	if err != nil {
		panic(err)
	}
	return objectRef{name: ns.Name, json: b, labels: labels.Set(ns.Labels),
		fields: fields.Set{"metadata.name": ns.Name, "status.phase": string(ns.Status.Phase)}}
}

// wireEvent is a watch event as it goes on the wire.
type wireEvent struct {
	Type   watch.EventType `json:"type"`
	Object json.RawMessage `json:"object"`
}

func bookmarkObject(resource string, rv uint64, initialEnd bool) []byte {
	kind := "Pod"
	if resource == Namespaces {
		kind = "Namespace"
	}
	m := metav1.ObjectMeta{ResourceVersion: strconv.FormatUint(rv, 10)}
	if initialEnd {
		m.Annotations = map[string]string{metav1.InitialEventsAnnotationKey: "true"}
	}
	b, err := json.Marshal(struct {
		metav1.TypeMeta `json:",inline"`
		Metadata        metav1.ObjectMeta `json:"metadata"`
	}{metav1.TypeMeta{Kind: kind, APIVersion: "v1"}, m})
	if err != nil {
		panic(err)
	}
	return b
}

// request is a parsed API request.
type request struct {
	resource  string
	namespace string // "" for all namespaces
	name      string // a GET of one object
	verb      string
	q         map[string]string
	fields    fields.Selector
	labels    labels.Selector
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	req, status := parseRequest(r)
	if status != nil {
		writeStatus(w, status)
		return
	}
	s.mu.Lock()
	s.requests[req.verb+" "+req.resource]++
	if req.verb == VerbList && req.q["resourceVersion"] == "" && req.q["continue"] == "" {
		s.consistent[req.resource]++
	}
	fail := s.failCode
	s.mu.Unlock()
	if fail != 0 {
		writeStatus(w, &metav1.Status{Status: metav1.StatusFailure, Code: int32(fail),
			Reason: reasonFor(fail), Message: "kubetest: failing on purpose"})
		return
	}
	switch req.verb {
	case VerbGet:
		s.get(w, req)
	case VerbList:
		s.list(w, req)
	case VerbWatch:
		s.watch(w, r, req)
	}
}

func reasonFor(code int) metav1.StatusReason {
	switch code {
	case http.StatusForbidden:
		return metav1.StatusReasonForbidden
	case http.StatusUnauthorized:
		return metav1.StatusReasonUnauthorized
	case http.StatusTooManyRequests:
		return metav1.StatusReasonTooManyRequests
	case http.StatusServiceUnavailable:
		return metav1.StatusReasonServiceUnavailable
	case http.StatusGone:
		return metav1.StatusReasonExpired
	}
	return metav1.StatusReasonInternalError
}

func parseRequest(r *http.Request) (*request, *metav1.Status) {
	bad := func(code int32, reason metav1.StatusReason, msg string) *metav1.Status {
		return &metav1.Status{Status: metav1.StatusFailure, Code: code, Reason: reason, Message: msg}
	}
	if r.Method != http.MethodGet {
		return nil, bad(http.StatusMethodNotAllowed, metav1.StatusReasonMethodNotAllowed, "kubetest serves GET only")
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) < 3 || parts[0] != "api" || parts[1] != "v1" {
		return nil, bad(http.StatusNotFound, metav1.StatusReasonNotFound, "the server could not find the requested resource")
	}
	req := &request{q: map[string]string{}}
	for k, v := range r.URL.Query() {
		req.q[k] = v[0]
	}
	p := parts[2:]
	switch {
	case len(p) == 1 && (p[0] == Pods || p[0] == Namespaces):
		req.resource = p[0]
	case len(p) == 2 && p[0] == Namespaces:
		req.resource, req.name = Namespaces, p[1]
	case len(p) == 3 && p[0] == Namespaces && p[2] == Pods:
		req.resource, req.namespace = Pods, p[1]
	case len(p) == 4 && p[0] == Namespaces && p[2] == Pods:
		req.resource, req.namespace, req.name = Pods, p[1], p[3]
	default:
		return nil, bad(http.StatusNotFound, metav1.StatusReasonNotFound, "the server could not find the requested resource")
	}
	switch {
	case req.name != "":
		req.verb = VerbGet
	case req.q["watch"] == "true" || req.q["watch"] == "1":
		req.verb = VerbWatch
	default:
		req.verb = VerbList
	}
	var err error
	if req.fields, err = fields.ParseSelector(req.q["fieldSelector"]); err != nil {
		return nil, bad(http.StatusBadRequest, metav1.StatusReasonBadRequest, err.Error())
	}
	allowed := map[string]bool{"metadata.name": true, "metadata.namespace": true, "spec.nodeName": true, "status.phase": true}
	if req.resource == Namespaces {
		allowed = map[string]bool{"metadata.name": true, "status.phase": true}
	}
	for _, rq := range req.fields.Requirements() {
		if !allowed[rq.Field] {
			return nil, bad(http.StatusBadRequest, metav1.StatusReasonBadRequest,
				fmt.Sprintf("field label not supported: %s", rq.Field))
		}
	}
	if req.labels, err = labels.Parse(req.q["labelSelector"]); err != nil {
		return nil, bad(http.StatusBadRequest, metav1.StatusReasonBadRequest, err.Error())
	}
	return req, nil
}

func (req *request) matches(o *objectRef) bool {
	if req.namespace != "" && o.namespace != req.namespace {
		return false
	}
	return req.fields.Matches(o.fields) && req.labels.Matches(o.labels)
}

// snapshotLocked returns the objects of the resource that the request
// selects, in key order.
func (s *Server) snapshotLocked(req *request) []objectRef {
	var out []objectRef
	if req.resource == Pods {
		for _, p := range s.pods {
			if o := podRef(p.DeepCopy()); req.matches(&o) {
				out = append(out, o)
			}
		}
	} else {
		for _, ns := range s.namespaces {
			if o := nsRef(ns.DeepCopy()); req.matches(&o) {
				out = append(out, o)
			}
		}
	}
	slices.SortFunc(out, func(a, b objectRef) int {
		return strings.Compare(a.namespace+"/"+a.name, b.namespace+"/"+b.name)
	})
	return out
}

func (s *Server) get(w http.ResponseWriter, req *request) {
	s.mu.Lock()
	var body []byte
	if req.resource == Pods {
		if p := s.pods[req.namespace+"/"+req.name]; p != nil {
			body = podRef(p.DeepCopy()).json
		}
	} else if ns := s.namespaces[req.name]; ns != nil {
		body = nsRef(ns.DeepCopy()).json
	}
	s.mu.Unlock()
	if body == nil {
		writeStatus(w, &metav1.Status{Status: metav1.StatusFailure, Code: http.StatusNotFound,
			Reason: metav1.StatusReasonNotFound, Message: fmt.Sprintf("%s %q not found", req.resource, req.name),
			Details: &metav1.StatusDetails{Name: req.name, Kind: req.resource}})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}

// continueToken is what a continue parameter holds (kube-apiserver's is
// opaque too).
type continueToken struct {
	RV    uint64 `json:"rv"`
	After string `json:"after"`
}

func (s *Server) list(w http.ResponseWriter, req *request) {
	limit, _ := strconv.Atoi(req.q["limit"])
	s.mu.Lock()
	rv := s.rv
	after := ""
	if c := req.q["continue"]; c != "" {
		var tok continueToken
		raw, err := base64.RawURLEncoding.DecodeString(c)
		if err == nil {
			err = json.Unmarshal(raw, &tok)
		}
		if err != nil {
			s.mu.Unlock()
			writeStatus(w, &metav1.Status{Status: metav1.StatusFailure, Code: http.StatusBadRequest,
				Reason: metav1.StatusReasonBadRequest, Message: "continue key is not valid"})
			return
		}
		if tok.RV < s.oldest {
			s.mu.Unlock()
			writeStatus(w, &metav1.Status{Status: metav1.StatusFailure, Code: http.StatusGone,
				Reason:  metav1.StatusReasonExpired,
				Message: "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter."})
			return
		}
		rv, after = tok.RV, tok.After
	}
	objs := s.snapshotLocked(req)
	s.mu.Unlock()
	if after != "" {
		i, _ := slices.BinarySearchFunc(objs, after, func(o objectRef, k string) int {
			return strings.Compare(o.namespace+"/"+o.name, k)
		})
		for i < len(objs) && objs[i].namespace+"/"+objs[i].name <= after {
			i++
		}
		objs = objs[i:]
	}
	meta := metav1.ListMeta{ResourceVersion: strconv.FormatUint(rv, 10)}
	if limit > 0 && len(objs) > limit {
		objs = objs[:limit]
		last := objs[limit-1]
		tok, _ := json.Marshal(continueToken{RV: rv, After: last.namespace + "/" + last.name})
		meta.Continue = base64.RawURLEncoding.EncodeToString(tok)
	}
	kind := "PodList"
	if req.resource == Namespaces {
		kind = "NamespaceList"
	}
	items := make([]json.RawMessage, len(objs))
	for i := range objs {
		items[i] = objs[i].json
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(struct {
		metav1.TypeMeta `json:",inline"`
		Metadata        metav1.ListMeta   `json:"metadata"`
		Items           []json.RawMessage `json:"items"`
	}{metav1.TypeMeta{Kind: kind, APIVersion: "v1"}, meta, items})
}

// How a watch ends.
const (
	endNone = iota
	endClean
	endDrop
	endExpired
)

// watchConn is one open watch.
type watchConn struct {
	req       *request
	resource  string
	bookmarks bool
	mu        sync.Mutex
	queue     [][]byte // encoded events not yet written
	wake      chan struct{}
	ended     int
}

func (w *watchConn) matches(o *objectRef) bool { return w.req.matches(o) }

// sendLocked queues an event; s.mu is held. A watch that fell too far
// behind is closed.
func (w *watchConn) sendLocked(s *Server, ev wireEvent) {
	b, err := json.Marshal(ev)
	if err != nil {
		panic(err)
	}
	w.mu.Lock()
	if w.ended == endNone {
		if len(w.queue) >= s.opts.WatchBuffer {
			w.ended = endClean
		} else {
			w.queue = append(w.queue, append(b, '\n'))
		}
	}
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *watchConn) end(how int) {
	w.mu.Lock()
	if w.ended == endNone {
		w.ended = how
	}
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (s *Server) watch(rw http.ResponseWriter, r *http.Request, req *request) {
	initial := req.q["sendInitialEvents"] == "true"
	if initial && s.opts.NoWatchList {
		writeStatus(rw, &metav1.Status{Status: metav1.StatusFailure, Code: http.StatusUnprocessableEntity,
			Reason:  metav1.StatusReasonInvalid,
			Message: "ListOptions.meta.k8s.io \"\" is invalid: sendInitialEvents: Forbidden: sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled"})
		return
	}
	if initial && req.q["resourceVersionMatch"] != string(metav1.ResourceVersionMatchNotOlderThan) {
		writeStatus(rw, &metav1.Status{Status: metav1.StatusFailure, Code: http.StatusUnprocessableEntity,
			Reason: metav1.StatusReasonInvalid, Message: "sendInitialEvents requires resourceVersionMatch=NotOlderThan"})
		return
	}
	wc := &watchConn{req: req, resource: req.resource, bookmarks: req.q["allowWatchBookmarks"] == "true",
		wake: make(chan struct{}, 1)}

	s.mu.Lock()
	rvParam := req.q["resourceVersion"]
	var from uint64
	if rvParam != "" && rvParam != "0" {
		v, err := strconv.ParseUint(rvParam, 10, 64)
		if err != nil {
			s.mu.Unlock()
			writeStatus(rw, &metav1.Status{Status: metav1.StatusFailure, Code: http.StatusBadRequest,
				Reason: metav1.StatusReasonBadRequest, Message: "invalid resource version: " + rvParam})
			return
		}
		from = v
	}
	switch {
	case initial || from == 0:
		// The current state as ADDED events (watch-list, or a watch from ""
		// or "0": "start at most recent" with its synthetic events).
		for _, o := range s.snapshotLocked(req) {
			wc.sendLocked(s, wireEvent{Type: watch.Added, Object: o.json})
		}
		if initial && wc.bookmarks {
			wc.sendLocked(s, wireEvent{Type: watch.Bookmark, Object: bookmarkObject(req.resource, s.rv, true)})
		}
	case from < s.oldest:
		st := metav1.Status{Status: metav1.StatusFailure, Code: http.StatusGone, Reason: metav1.StatusReasonExpired,
			Message: fmt.Sprintf("too old resource version: %d (%d)", from, s.oldest)}
		wc.sendLocked(s, wireEvent{Type: watch.Error, Object: statusJSON(&st)})
		wc.ended = endClean
	default:
		for _, c := range s.history {
			if c.rv > from && c.resource == req.resource && req.matches(&c.obj) {
				wc.sendLocked(s, wireEvent{Type: c.typ, Object: c.obj.json})
			}
		}
	}
	if wc.ended == endNone {
		s.watches[wc] = struct{}{}
	}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.watches, wc)
		s.mu.Unlock()
	}()

	var timeout <-chan time.Time
	if ts, err := strconv.Atoi(req.q["timeoutSeconds"]); err == nil && ts > 0 {
		t := time.NewTimer(time.Duration(ts) * time.Second)
		defer t.Stop()
		timeout = t.C
	}
	rw.Header().Set("Content-Type", "application/json")
	rw.Header().Set("Transfer-Encoding", "chunked")
	rw.WriteHeader(http.StatusOK)
	fl := rw.(http.Flusher)
	fl.Flush()
	for {
		wc.mu.Lock()
		q, ended := wc.queue, wc.ended
		wc.queue = nil
		wc.mu.Unlock()
		for _, b := range q {
			if _, err := rw.Write(b); err != nil {
				return
			}
		}
		if len(q) > 0 {
			fl.Flush()
		}
		switch ended {
		case endClean:
			return
		case endDrop:
			dropConn(rw)
			return
		case endExpired:
			st := metav1.Status{Status: metav1.StatusFailure, Code: http.StatusGone, Reason: metav1.StatusReasonExpired,
				Message: "too old resource version: watcher fell behind"}
			eb, _ := json.Marshal(wireEvent{Type: watch.Error, Object: statusJSON(&st)})
			_, _ = rw.Write(append(eb, '\n'))
			fl.Flush()
			return
		}
		select {
		case <-wc.wake:
		case <-timeout:
			return
		case <-r.Context().Done():
			return
		case <-s.stop:
			return
		}
	}
}

// dropConn closes a response's connection without the chunked stream's
// terminating chunk.
func dropConn(rw http.ResponseWriter) {
	hj, ok := rw.(http.Hijacker)
	if !ok {
		panic("kubetest: response cannot be hijacked")
	}
	conn, buf, err := hj.Hijack()
	if err != nil {
		return
	}
	_ = buf.Flush()
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// statusJSON is a Status as the apiserver encodes it, kind and apiVersion
// included.
func statusJSON(st *metav1.Status) []byte {
	st.TypeMeta = metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}
	b, err := json.Marshal(st)
	if err != nil {
		panic(err)
	}
	return b
}

func writeStatus(w http.ResponseWriter, st *metav1.Status) {
	st.TypeMeta = metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(int(st.Code))
	bw := bufio.NewWriter(w)
	_ = json.NewEncoder(bw).Encode(st)
	_ = bw.Flush()
}

// WriteKubeconfig writes a kubeconfig for the server to path (plain HTTP,
// a bearer token the server does not check), for a drover process that
// reads it with kubeconfig = path.
func (s *Server) WriteKubeconfig(path string) error {
	text := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: kubetest, cluster: {server: %q}}]
users: [{name: drover, user: {token: kubetest}}]
contexts: [{name: kubetest, context: {cluster: kubetest, user: drover}}]
current-context: kubetest
`, s.URL())
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		return fmt.Errorf("writing kubeconfig: %w", err)
	}
	return nil
}
