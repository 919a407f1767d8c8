package follow

import (
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The kubelet's names parse, and sort as the scheme orders them: by
// restart, rotated files by time (a compressed one beside its original),
// the live file last.
func TestKubeNamesAndOrder(t *testing.T) {
	for _, bad := range []string{"", "log", ".log", "01.log", "0.logx", "0.log.", "0.log.2026", "0.log.20261307-000000",
		"0.log.20261207-172011.tmp", "a.log", "0.log.gz", "1234567890.log"} {
		if _, ok := parseKubeName(bad); ok {
			t.Errorf("%q parsed", bad)
		}
	}
	names := []string{"1.log", "0.log.20261207-172011.gz", "0.log", "0.log.20261207-180000", "10.log", "0.log.20261207-172011",
		"1.log.20261207-100000", "2.log"}
	var es []kubeEntry
	for _, n := range names {
		e, ok := parseKubeName(n)
		if !ok {
			t.Fatalf("%q did not parse", n)
		}
		es = append(es, e)
	}
	slices.SortFunc(es, compareKube)
	var got []string
	for _, e := range es {
		got = append(got, e.name)
	}
	want := []string{"0.log.20261207-172011", "0.log.20261207-172011.gz", "0.log.20261207-180000", "0.log",
		"1.log.20261207-100000", "1.log", "2.log", "10.log"}
	if !slices.Equal(got, want) {
		t.Fatalf("order\n got %v\nwant %v", got, want)
	}
}

// Names read from a container's directory never panic the parser, and
// what parses is a name of the scheme: it starts with its restart and
// ".log".
func FuzzParseKubeName(f *testing.F) {
	for _, s := range []string{"0.log", "12.log.20261207-172011", "3.log.20261207-172011.gz", "0.log.tmp", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		e, ok := parseKubeName(name)
		if !ok {
			return
		}
		if e.name != name || !strings.HasPrefix(name, strconv.FormatUint(e.restart, 10)+".log") {
			t.Fatalf("%q parsed as %+v", name, e)
		}
		if e.gz && (e.rotated == "" || !strings.HasSuffix(name, ".gz")) {
			t.Fatalf("%q: compressed without a rotation time", name)
		}
	})
}
