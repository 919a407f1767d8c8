package reading_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/config"
	_ "github.com/drover-dev/drover/internal/sink/stdout"
	"github.com/drover-dev/drover/internal/source/file"
	"github.com/drover-dev/drover/internal/source/kuberneteslogs"
	"github.com/drover-dev/drover/internal/source/nomadlogs"
	"github.com/drover-dev/drover/internal/source/reading"
)

// The three file-based sources embed the same reading options, with the
// same attribute names and defaults (but the checkpoint retention, which
// is each source's).
func TestSourcesShareTheReadingOptions(t *testing.T) {
	for name, c := range map[string]struct {
		o         reading.Options
		retention time.Duration
	}{
		"file":            {file.NewConfig().Options, 24 * time.Hour},
		"nomad_logs":      {nomadlogs.NewConfig().Options, time.Hour},
		"kubernetes_logs": {kuberneteslogs.NewConfig().Options, time.Hour},
	} {
		want := reading.Options{ReadFrom: "beginning", MaxLineBytes: 256 << 10, PartialLineTimeout: 5 * time.Second,
			CheckpointInterval: time.Second, CheckpointRetention: c.retention, UseFsnotify: true}
		if c.o != want {
			t.Errorf("%s: defaults %+v, want %+v", name, c.o, want)
		}
	}
}

// A wrong reading option is reported by the loader at its file:line with
// the attribute's name, in every source that embeds the options; several
// wrong ones are each reported.
func TestReadingOptionErrorsNameFileLineAndField(t *testing.T) {
	head := map[string]string{
		"file":            `include = ["/var/log/*.log"]`,
		"nomad_logs":      `nomad { address = "http://127.0.0.1:4646" }`,
		"kubernetes_logs": `node_name = "node-1"`,
	}
	for typ, first := range head {
		for _, c := range []struct{ attr, value, msg string }{
			{"max_line_bytes", `"0B"`, "must be between 1 and 64mib"},
			{"partial_line_timeout", `"0s"`, "must be positive"},
			{"checkpoint_interval", `"0s"`, "must be positive"},
			{"checkpoint_retention", `"0s"`, "must be positive"},
			{"max_open_files", `-1`, "must not be negative"},
		} {
			src := fmt.Sprintf("source %q \"x\" {\n  %s\n  max_open_files = 0\n  %s = %s\n}\nsink \"stdout\" \"out\" {\n  inputs = [\"x\"]\n}\n",
				typ, first, c.attr, c.value)
			if c.attr == "max_open_files" {
				src = strings.Replace(src, "  max_open_files = 0\n", "", 1)
			}
			_, err := config.Load("drover.hcl", []byte(src), func(string) (string, bool) { return "", false })
			line := "drover.hcl:4"
			if c.attr == "max_open_files" {
				line = "drover.hcl:3"
			}
			if err == nil || !strings.Contains(err.Error(), line) || !strings.Contains(err.Error(), c.attr) || !strings.Contains(strings.ToLower(err.Error()), c.msg) {
				t.Errorf("%s %s = %s: error %v, want %s, the field and %q", typ, c.attr, c.value, err, line, c.msg)
			}
		}
	}
}

func TestValidateReportsEveryWrongOption(t *testing.T) {
	o := reading.Defaults(time.Hour)
	o.ReadFrom, o.MaxLineBytes, o.CheckpointInterval = "middle", 1<<30, 0
	errs := o.Validate()
	var fields []string
	for _, err := range errs {
		var fe *config.FieldError
		if !errors.As(err, &fe) {
			t.Fatalf("%v is not a FieldError", err)
		}
		fields = append(fields, fe.Field)
	}
	if got := strings.Join(fields, ","); got != "read_from,max_line_bytes,checkpoint_interval" {
		t.Fatalf("fields %s", got)
	}
	if err := reading.Join(nil, reading.Join(errs...), nil); err == nil || len(err.(interface{ Unwrap() []error }).Unwrap()) != 3 {
		t.Fatalf("Join: %v", err)
	}
	if reading.Join(nil, nil) != nil {
		t.Fatal("Join of nothing is not nil")
	}
}
