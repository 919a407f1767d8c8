package buildinfo

import (
	"runtime"
	"strings"
	"testing"
)

func TestStampedValuesWin(t *testing.T) {
	defer func(v, c, d string) { version, commit, date = v, c, d }(version, commit, date)
	version, commit, date = "v1.2.3", "0123456789abcdef0123456789abcdef01234567", "2026-12-07T10:00:00Z"
	i := Get()
	if i.Version != "v1.2.3" || i.Commit != commit || i.Date != date || i.GoVersion != runtime.Version() ||
		i.Platform != runtime.GOOS+"/"+runtime.GOARCH || i.ShortCommit() != "0123456789ab" {
		t.Fatalf("%+v", i)
	}
	want := "drover v1.2.3\ncommit: 0123456789abcdef0123456789abcdef01234567\nbuilt: 2026-12-07T10:00:00Z\ngo: " +
		runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + "\n"
	if got := i.String(); got != want {
		t.Fatalf("String() = %q, want %q", got, want)
	}
	version = "v1.2.3-dirty"
	if !Get().Modified {
		t.Fatal("a -dirty version is modified")
	}
}

func TestUnstampedBuildSaysDevel(t *testing.T) {
	defer func(v, c, d string) { version, commit, date = v, c, d }(version, commit, date)
	version, commit, date = "", "", ""
	i := Get()
	if i.Version == "" || !strings.HasPrefix(i.String(), "drover "+i.Version+"\ncommit: ") {
		t.Fatalf("%+v %q", i, i.String())
	}
}
