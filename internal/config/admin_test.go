package config_test

import (
	"testing"

	"github.com/drover-dev/drover/internal/config"
)

func TestAdminPprofIsOffUnlessSet(t *testing.T) {
	for src, want := range map[string]bool{
		`admin { address = "127.0.0.1:0" }`:                     false,
		"admin {\n address = \"127.0.0.1:0\"\n pprof = true\n}": true,
	} {
		cfg, err := config.Load("drover.hcl", []byte(src+"\n"+`sink "cfgtest_sink" "out" {
  inputs = ["app"]
  uri    = "http://127.0.0.1:9000"
}
source "cfgtest_source" "app" { include = ["/x"] }
`), env(nil))
		if err != nil {
			t.Fatalf("Load(%s): %v", src, err)
		}
		if cfg.Admin.Pprof != want || !cfg.Admin.Enabled {
			t.Errorf("%s: admin %+v, want pprof=%v", src, cfg.Admin, want)
		}
	}
}
