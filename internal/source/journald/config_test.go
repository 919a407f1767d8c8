package journald

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/config"
	"github.com/drover-dev/drover/internal/event"
)

// A sink type for loading test configurations (a topology needs one).
type nullSink struct{}

type nullSinkConfig struct{}

func (*nullSinkConfig) Validate() error { return nil }

func (nullSink) Run(ctx context.Context, in <-chan *event.Batch) error {
	for b := range in {
		b.Ack.Release(event.Delivered)
	}
	return nil
}

func init() {
	component.Register(component.Registration{
		Kind: component.KindSink, Type: "journald_test_null",
		NewConfig: func() component.Config { return &nullSinkConfig{} },
		BuildSink: func(component.Context, component.Config) (component.Sink, error) { return nullSink{}, nil },
	})
}

func load(t *testing.T, body string) (*Config, error) {
	t.Helper()
	src := "source \"journald\" \"host\" {\n" + body + "\n}\n" +
		"sink \"journald_test_null\" \"out\" {\n  inputs = [\"host\"]\n}\n"
	cfg, err := config.Load("drover.hcl", []byte(src), func(string) (string, bool) { return "", false })
	if err != nil {
		return nil, err
	}
	return cfg.Sources()[0].Config.(*Config), nil
}

func TestConfigDefaults(t *testing.T) {
	c, err := load(t, "")
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		JournalctlPath: "journalctl", OnInvalidCursor: "last_timestamp", FieldNames: "lowercase",
		MaxMessageBytes: 256 << 10, CheckpointInterval: time.Second,
	}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("defaults %+v, want %+v", c, want)
	}
}

func TestConfigAllOptions(t *testing.T) {
	c, err := load(t, `
  journalctl_path     = "/usr/bin/journalctl"
  journal_directory   = "/var/log/journal/remote"
  units               = ["nomad", "consul.service"]
  include_matches     = { _TRANSPORT = ["kernel"], SYSLOG_IDENTIFIER = ["sshd", "sudo"] }
  exclude_matches     = { PRIORITY = ["7"] }
  since_now           = true
  current_boot_only   = true
  on_invalid_cursor   = "oldest"
  field_names         = "original"
  max_message_bytes   = "1MiB"
  checkpoint_interval = "5s"
`)
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		JournalctlPath: "/usr/bin/journalctl", JournalDirectory: "/var/log/journal/remote",
		Units:          []string{"nomad", "consul.service"},
		IncludeMatches: map[string][]string{"_TRANSPORT": {"kernel"}, "SYSLOG_IDENTIFIER": {"sshd", "sudo"}},
		ExcludeMatches: map[string][]string{"PRIORITY": {"7"}},
		SinceNow:       true, CurrentBootOnly: true, OnInvalidCursor: "oldest", FieldNames: "original",
		MaxMessageBytes: 1 << 20, CheckpointInterval: 5 * time.Second,
	}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("got %+v\nwant %+v", c, want)
	}
}

func TestConfigErrors(t *testing.T) {
	cases := []struct{ body, want string }{
		{`journalctl_path = ""`, `drover.hcl:2,3: Invalid journalctl_path in source "host"; Must not be empty.`},
		{`journal_directory = "journal"`, `Must be an absolute path`},
		{`units = ["nomad", ""]`, `Unit 2 is empty`},
		{`units = ["nomad*"]`, `without patterns`},
		{`include_matches = { _systemd_unit = ["x"] }`, `journal field names are upper-case`},
		{`include_matches = { __CURSOR = ["x"] }`, `journal addresses`},
		{`exclude_matches = { PRIORITY = [] }`, `list at least one value`},
		{`on_invalid_cursor = "newest"`, `Expected one of "last_timestamp", "oldest", "now", got "newest"`},
		{`field_names = "upper"`, `Expected one of "lowercase", "original"`},
		{`max_message_bytes = 0`, `Must be between 1 byte and 8MiB`},
		{`checkpoint_interval = "0s"`, `Must be positive`},
		{`unknown = 1`, `Unsupported argument`},
	}
	for _, tc := range cases {
		_, err := load(t, "  "+tc.body)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.body, err, tc.want)
		}
	}
}

func TestFollowArgs(t *testing.T) {
	c := NewConfig()
	c.JournalDirectory = "/j"
	c.Units = []string{"nomad", "docker.socket"}
	c.IncludeMatches = map[string][]string{"_TRANSPORT": {"kernel"}, "SYSLOG_IDENTIFIER": {"sshd", "sudo"}}
	base := "--output=json --all --no-pager --directory=/j --merge --follow --show-cursor"
	matches := "_SYSTEMD_UNIT=nomad.service _SYSTEMD_UNIT=docker.socket + SYSLOG_IDENTIFIER=sshd SYSLOG_IDENTIFIER=sudo + _TRANSPORT=kernel"
	since := time.UnixMicro(1700000000000042)
	for _, tc := range []struct {
		st   origin
		want string
	}{
		{origin{}, base + " --no-tail " + matches},
		{origin{cursor: "s=1;i=2"}, base + " --cursor=s=1;i=2 --no-tail " + matches},
		{origin{since: since}, base + " --since=@1700000000.000042 --no-tail " + matches},
		{origin{now: true}, base + " --lines=0 " + matches},
	} {
		if got := strings.Join(c.followArgs(tc.st), " "); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.st, got, tc.want)
		}
	}
	c = NewConfig()
	c.CurrentBootOnly = true
	if got := strings.Join(c.followArgs(origin{}), " "); got != "--output=json --all --no-pager --follow --show-cursor --boot --no-tail" {
		t.Errorf("current_boot_only: %s", got)
	}
	if got := strings.Join(c.checkArgs("C"), " "); got != "--output=json --all --no-pager --cursor=C --lines=1" {
		t.Errorf("check: %s", got)
	}
}
