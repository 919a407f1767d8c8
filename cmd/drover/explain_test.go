package main

import (
	"strings"
	"testing"

	"github.com/drover-dev/drover/internal/status"
)

func TestExplainMatchesWhatOperatorsName(t *testing.T) {
	api := status.Target{Kind: status.TargetNomadStream, Key: "5a1b2c3d-1111-2222-3333-444455556666/api/stdout",
		Path:   "/var/nomad/alloc/5a1b2c3d-1111-2222-3333-444455556666/alloc/logs/api.stdout.3",
		Labels: map[string]string{"alloc_id": "5a1b2c3d-1111-2222-3333-444455556666", "job": "web", "task": "api", "stream": "stdout"}}
	file := status.Target{Kind: status.TargetFile, Key: "64768:12", Path: "/var/log/app/app.log", Labels: map[string]string{"file": "/var/log/app/app.log"}}
	pod := status.Target{Kind: status.TargetPod, Key: "uid-1/nginx",
		Labels: map[string]string{"namespace": "shop", "pod": "front-7d9", "pod_uid": "uid-1", "container": "nginx"}}
	ts := []status.Target{api, file, pod}
	for what, want := range map[string]string{
		"5a1b2c3d-1111-2222-3333-444455556666": api.Key,
		"5a1b2c3d":                             api.Key,
		"web/api":                              api.Key,
		"web":                                  api.Key,
		"/var/nomad/alloc/5a1b2c3d-1111-2222-3333-444455556666/alloc/logs/api.stdout.0": api.Key,
		"/var/nomad/alloc/5a1b2c3d-1111-2222-3333-444455556666":                         api.Key,
		"/var/log/app/app.log":   file.Key,
		"/var/log/app/":          file.Key,
		"shop/front-7d9":         pod.Key,
		"front-7d9":              pod.Key,
		"uid-1":                  pod.Key,
		"5a1b":                   "",
		"web/other":              "",
		"/var/log/app/other.log": "",
	} {
		got := matchTargets(ts, what)
		switch {
		case want == "" && len(got) != 0:
			t.Errorf("%q matched %+v", what, got)
		case want != "" && (len(got) != 1 || got[0].Key != want):
			t.Errorf("%q matched %+v, want %s", what, got, want)
		}
	}
}

func TestVerdict(t *testing.T) {
	for _, c := range []struct {
		t    status.Target
		want string
	}{
		{status.Target{State: status.StateExcluded, Reason: `exclude.tasks "x"`}, `not shipped: excluded by exclude.tasks "x"`},
		{status.Target{State: status.StateFollowing, BytesBehind: 2048}, "behind: 2.0 KiB written and not read yet"},
		{status.Target{State: status.StateFollowing, Unacknowledged: true}, "in flight: read, not yet acknowledged by every sink"},
		{status.Target{State: status.StateParked}, "shipped: everything written was read and acknowledged"},
	} {
		if got := verdict(c.t); got != c.want {
			t.Errorf("verdict(%+v) = %q, want %q", c.t, got, c.want)
		}
	}
}

func TestHelpOfTheCommandsThatAskDrover(t *testing.T) {
	for _, name := range []string{"top", "tap", "explain"} {
		var out, errb strings.Builder
		if code := run([]string{"help", name}, &out, &errb); code != 0 {
			t.Fatalf("drover help %s: exit %d: %s", name, code, errb.String())
		}
		for _, want := range []string{"Usage: drover " + name, "--address", "--token-file", "DROVER_ADMIN_TOKEN", "DROVER_ADMIN_ADDRESS"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("drover help %s lacks %q:\n%s", name, want, out.String())
			}
		}
	}
	var out, errb strings.Builder
	run([]string{"help"}, &out, &errb)
	for _, want := range []string{"drover top", "drover tap COMPONENT", "drover explain ALLOC-ID|JOB/TASK|PATH|POD"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("drover help lacks %q", want)
		}
	}
}
