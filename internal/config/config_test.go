package config_test

import (
	"strings"
	"testing"

	"github.com/drover-dev/drover/internal/config"
)

func sinkWithBuffer(buffer string) string {
	return "source \"cfgtest_source\" \"app\" { include = [\"/x\"] }\n" +
		"sink \"cfgtest_sink\" \"out\" {\n inputs = [\"app\"]\n uri = \"http://x\"\n buffer {\n" + buffer + "\n }\n}\n"
}

func TestBufferDecodesDiskOptionsAndDefaults(t *testing.T) {
	for _, tc := range []struct {
		block string
		want  config.Buffer
	}{
		{`  type = "disk"`, config.Buffer{Type: "disk", MaxEvents: config.DefaultBufferMaxEvents,
			MaxSize: config.DefaultBufferMaxSize, WhenFull: "block", FsyncInterval: config.DefaultFsyncInterval}},
		{"  type = \"disk\"\n  max_size = \"2GiB\"\n  when_full = \"drop_newest\"\n  fsync_interval = \"0s\"",
			config.Buffer{Type: "disk", MaxEvents: config.DefaultBufferMaxEvents, MaxSize: 2 << 30, WhenFull: "drop_newest"}},
		{"  max_events = 5\n  when_full = \"drop_newest\"",
			config.Buffer{Type: "memory", MaxEvents: 5, MaxSize: config.DefaultBufferMaxSize, WhenFull: "drop_newest", FsyncInterval: config.DefaultFsyncInterval}},
	} {
		cfg, err := config.Load("b.hcl", []byte(sinkWithBuffer(tc.block)), env(nil))
		if err != nil {
			t.Fatalf("%s: %v", tc.block, err)
		}
		if got := cfg.Component("out").Buffer; got != tc.want {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.block, got, tc.want)
		}
	}
}

func TestBufferOptionsOfTheOtherTypeAreErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		block string
		want  []string
	}{
		{"max_size on memory", `  max_size = "1GiB"`, []string{"b.hcl:6,3", "buffer.max_size", "disk"}},
		{"fsync_interval on memory", "  type = \"memory\"\n  fsync_interval = \"1s\"", []string{"b.hcl:7,3", "buffer.fsync_interval", "disk"}},
		{"max_events on disk", "  type = \"disk\"\n  max_events = 100", []string{"b.hcl:7,3", "buffer.max_events", "max_size"}},
		{"small disk buffer", "  type = \"disk\"\n  max_size = \"512KiB\"", []string{"b.hcl:7,3", "buffer.max_size", "1MiB"}},
		{"long fsync interval", "  type = \"disk\"\n  fsync_interval = \"2m\"", []string{"b.hcl:7,3", "buffer.fsync_interval", "1m"}},
		{"unknown type", `  type = "mmap"`, []string{"b.hcl:6", `"memory", "disk"`, `"mmap"`}},
		{"unknown policy", `  when_full = "drop_oldest"`, []string{"b.hcl:6", `"block", "drop_newest"`}},
		{"negative fsync interval", "  type = \"disk\"\n  fsync_interval = \"-1s\"", []string{"b.hcl:7", "negative"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Load("b.hcl", []byte(sinkWithBuffer(tc.block)), env(nil))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestBufferChangeChangesTheFingerprint(t *testing.T) {
	load := func(block string) string {
		cfg, err := config.Load("b.hcl", []byte(sinkWithBuffer(block)), env(nil))
		if err != nil {
			t.Fatal(err)
		}
		return cfg.Component("out").Fingerprint()
	}
	if load(`  type = "disk"`) == load("  type = \"disk\"\n  fsync_interval = \"1s\"") {
		t.Error("a changed fsync_interval kept the fingerprint")
	}
}
