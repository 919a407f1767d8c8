package follow

import (
	"slices"
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
