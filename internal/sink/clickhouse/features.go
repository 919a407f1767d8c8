package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Settings whose support depends on the server's version. The sink asks
// system.settings which of them the server knows before it sends them.
const (
	settingAsyncInsert        = "async_insert"               // 21.11
	settingWaitAsyncInsert    = "wait_for_async_insert"      // 21.11
	settingAsyncInsertDedup   = "async_insert_deduplicate"   // 22.11
	settingDeduplicationToken = "insert_deduplication_token" // 22.2
)

var versionedSettings = []string{settingAsyncInsert, settingWaitAsyncInsert, settingAsyncInsertDedup, settingDeduplicationToken}

// features is what the sink learnt about the server.
type features struct {
	// known is true when the server answered the detection query; false
	// when it refused it (the sink then sends what is configured and
	// nothing it would only send when supported).
	known bool
	// refusal is the server's answer to the detection query when it
	// refused it.
	refusal error
	version string
	// settings are the version-dependent settings the server knows.
	settings []string
}

func (f features) has(setting string) bool { return slices.Contains(f.settings, setting) }

// String describes the features for the log.
func (f features) String() string {
	if !f.known {
		return fmt.Sprintf("unknown: the server refused the detection query (%v)", f.refusal)
	}
	var missing []string
	for _, s := range versionedSettings {
		if !f.has(s) {
			missing = append(missing, s)
		}
	}
	if len(missing) == 0 {
		return "ClickHouse " + f.version + " with all optional settings"
	}
	return "ClickHouse " + f.version + " without " + strings.Join(missing, ", ")
}

// detectQuery returns the server's version and which of the
// version-dependent settings it knows, in one row: "23.8.1.1\tasync_insert,...".
var detectQuery = fmt.Sprintf("SELECT version(), arrayStringConcat((SELECT groupArray(name) FROM system.settings WHERE name IN ('%s')), ',') FORMAT TabSeparated",
	strings.Join(versionedSettings, "','"))

// detector runs the detection query once, when it is first needed.
type detector struct {
	mu   sync.Mutex
	done bool
	f    features
}

// get returns the features, running the detection query if it has not
// succeeded yet. A network failure is returned (the caller retries); an
// error answer of the server gives unknown features, once and for all.
func (d *detector) get(ctx context.Context, s *Sink) (f features, fresh bool, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.done {
		return d.f, false, nil
	}
	out, err := s.query(ctx, detectQuery)
	var se *ServerError
	switch {
	case errors.As(err, &se):
		d.f = features{refusal: err}
	case err != nil:
		return features{}, false, fmt.Errorf("detecting the server's settings: %w", err)
	default:
		d.f = parseFeatures(out)
	}
	d.done = true
	return d.f, true, nil
}

// parseFeatures reads the row of detectQuery.
func parseFeatures(row string) features {
	version, names, _ := strings.Cut(strings.TrimRight(row, "\r\n"), "\t")
	f := features{known: true, version: version}
	for _, n := range strings.Split(names, ",") {
		if slices.Contains(versionedSettings, n) {
			f.settings = append(f.settings, n)
		}
	}
	return f
}
