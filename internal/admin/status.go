package admin

import (
	"embed"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"strconv"
	"time"
)

// ui holds the status page: one HTML file, its script and its style sheet,
// served from the binary (no CDN: the page works offline).
//
//go:embed ui
var ui embed.FS

// pagePaths are the paths of the page's shell and assets. They hold no
// data and are served without the admin token; the data the page loads
// from /api/v1/status needs it (the page asks for it).
var pagePaths = []string{"/", "/ui/app.js", "/ui/app.css"}

// TapStream is a viewer attached to one output (see topology.Tap).
type TapStream interface {
	// Events are the sampled events, one JSON object each.
	Events() <-chan []byte
	// Lost is the number of sampled events the viewer had no room for.
	Lost() uint64
	Close()
}

// handleStatus adds the status page, /api/v1/status and /api/v1/tap to mux.
func handleStatus(mux *http.ServeMux, opts Options) {
	sub, _ := fs.Sub(ui, "ui")
	files := http.FileServerFS(sub)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeFileFS(w, r, sub, "index.html")
	})
	mux.Handle("GET /ui/", http.StripPrefix("/ui/", files))
	if opts.Overview != nil {
		mux.HandleFunc("GET /api/v1/status", func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, opts.Overview())
		})
	}
	if opts.Tap != nil {
		mux.HandleFunc("GET /api/v1/tap", func(w http.ResponseWriter, r *http.Request) { serveTap(w, r, opts.Tap) })
	}
}

// serveTap streams the events that leave one output, as lines of JSON:
// {"event": {...}} for each sampled event, {"lost": N} when the viewer
// fell behind and events were lost (N counts them all so far), until the
// client goes away or limit events were sent.
//
//	GET /api/v1/tap?output=<id|id.name>&sample=N&limit=N
func serveTap(w http.ResponseWriter, r *http.Request, tap func(string, int) (TapStream, error)) {
	q := r.URL.Query()
	output := q.Get("output")
	sample, limit, err := intParam(q.Get("sample"), 1), intParam(q.Get("limit"), 0), error(nil)
	if output == "" {
		err = errors.New("output is required")
	} else if sample < 1 || limit < 0 {
		err = errors.New("sample must be at least 1 and limit at least 0")
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ts, err := tap(output, sample)
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	defer ts.Close()
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	flush := func() {
		if flusher != nil {
			flusher.Flush()
		}
	}
	flush()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var lost uint64
	sent := 0
	for {
		select {
		case <-r.Context().Done():
			return
		case ev := <-ts.Events():
			line := make([]byte, 0, len(ev)+12)
			line = append(append(append(line, `{"event":`...), ev...), "}\n"...)
			if _, err := w.Write(line); err != nil {
				return
			}
			sent++
			if limit > 0 && sent >= limit {
				flush()
				return
			}
			if len(ts.Events()) == 0 {
				flush()
			}
		case <-tick.C:
			if n := ts.Lost(); n != lost {
				lost = n
				b, _ := json.Marshal(map[string]uint64{"lost": n})
				if _, err := w.Write(append(b, '\n')); err != nil {
					return
				}
			}
			flush()
		}
	}
}

func intParam(s string, def int) int {
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return n
}
