package eventstream

import (
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// stream is one open event stream.
type stream struct {
	cut     chan struct{}
	cutOnce sync.Once
	end     chan struct{}
	endOnce sync.Once
	endMsg  string
	wakeCh  chan struct{}
}

func (c *stream) wake() {
	select {
	case c.wakeCh <- struct{}{}:
	default:
	}
}

func (s *Server) isSilent() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.silent
}

// takeRequestPlan pops the failure or cut planned for the next request.
func (s *Server) takeRequestPlan() (fail *failure, cutAfter int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cutAfter = -1
	if len(s.fails) > 0 {
		f := s.fails[0]
		s.fails = s.fails[1:]
		return &f, cutAfter
	}
	if len(s.cutAfter) > 0 {
		cutAfter = s.cutAfter[0]
		s.cutAfter = s.cutAfter[1:]
	}
	return nil, cutAfter
}

func (s *Server) serveStream(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		s.record(r, http.StatusMethodNotAllowed)
		http.Error(w, "Invalid method", http.StatusMethodNotAllowed)
		return
	}
	fail, cutAfter := s.takeRequestPlan()
	if fail != nil {
		s.record(r, fail.status)
		http.Error(w, fail.body, fail.status)
		return
	}
	q := r.URL.Query()
	indexStr := q.Get("index")
	if indexStr == "" {
		indexStr = "0"
	}
	index, err := strconv.Atoi(indexStr)
	if err != nil {
		s.record(r, http.StatusBadRequest)
		http.Error(w, "Unable to parse index: "+err.Error(), http.StatusBadRequest)
		return
	}
	sub, err := parseSubscription(q)
	if err != nil {
		s.record(r, http.StatusBadRequest)
		http.Error(w, "Invalid topic query: error parsing topics: "+err.Error(), http.StatusBadRequest)
		return
	}
	req := s.record(r, http.StatusOK)

	c := &stream{cut: make(chan struct{}), end: make(chan struct{}), wakeCh: make(chan struct{}, 1)}
	s.mu.Lock()
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()

	cur := s.b.subscribe(uint64(max(index, 0)))
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	if flusher != nil {
		flusher.Flush()
	}
	write := func(b []byte) {
		_, _ = w.Write(b)
		if flusher != nil {
			flusher.Flush()
		}
	}
	heartbeat := func() {
		s.mu.Lock()
		s.beats++
		s.mu.Unlock()
		write([]byte("{}\n"))
	}
	if !s.isSilent() {
		heartbeat()
	}
	hb := time.NewTicker(s.opts.Heartbeat)
	defer hb.Stop()
	for {
		select {
		case <-c.cut:
			s.abort(write, cur, sub)
		case <-c.end:
			write([]byte(c.endMsg))
			return
		default:
		}
		if s.isSilent() {
			select {
			case <-c.wakeCh:
			case <-c.cut:
			case <-c.end:
			case <-r.Context().Done():
				return
			case <-s.closing:
				return
			}
			continue
		}
		item, ok, changed, err := s.b.next(&cur)
		switch {
		case errors.Is(err, errDropped):
			// Nomad writes the error after the 200 and the last line.
			write([]byte(errDropped.Error()))
			return
		case errors.Is(err, errReplaced):
			s.abort(write, cur, sub)
		case ok:
			evs := sub.filter(item.Events)
			if len(evs) == 0 {
				continue
			}
			line := append(Line(item.Index, evs), '\n')
			if cutAfter == 0 {
				write(line[:len(line)/2])
				panic(http.ErrAbortHandler)
			}
			write(line)
			s.sent(req, item.Index)
			if cutAfter > 0 {
				cutAfter--
			}
			continue
		}
		select {
		case <-changed:
		case <-hb.C:
			heartbeat()
		case <-c.cut:
		case <-c.end:
		case <-c.wakeCh:
		case <-r.Context().Done():
			return
		case <-s.closing:
			return
		}
	}
}

// abort writes half of the line the subscriber would get next (or the start
// of a frame when nothing is due) and drops the connection without ending
// the chunked response.
func (s *Server) abort(write func([]byte), cur cursor, sub subscription) {
	partial := []byte(`{"Events":[{"FilterKeys":[`)
	if item, ok := s.b.peek(cur); ok {
		if evs := sub.filter(item.Events); len(evs) > 0 {
			line := Line(item.Index, evs)
			partial = line[:len(line)/2]
		}
	}
	write(partial)
	panic(http.ErrAbortHandler)
}
