package vector

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/discovery/nomad"
	"github.com/drover-dev/drover/internal/nomadtest"
)

// Render writes every listed allocation, terminal ones included, removes
// drover's files of the others and leaves everything else alone; run
// again, it changes nothing.
func TestRenderOnce(t *testing.T) {
	srv := nomadtest.New(t)
	srv.LoadFixture(nomadtest.FixtureNodeAllocations)
	dir := t.TempDir()
	seedUserFiles(t, dir)
	cfg := serverConfig(srv, dir)
	cfg.Format = FormatYAML
	n := cfg.Names()
	writeFile(t, dir, n.AllocFile(idA, "yaml"), "# an allocation garbage-collected since\n")
	writeFile(t, dir, n.PlaceholderFile("toml"), "# the placeholder, in the format of an earlier run\n")

	opts, _, _ := testOptions(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	rep, err := Render(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{n.AllocFile(idBatch, "yaml"), n.AllocFile(idSleeper, "yaml"), n.AllocFile(idLogspam, "yaml")}
	slices.Sort(want)
	if !slices.Equal(rep.Files, want) || !slices.Equal(rep.Written, want) {
		t.Errorf("report %+v\nwant files %v", rep, want)
	}
	removed := []string{n.AllocFile(idA, "yaml"), n.PlaceholderFile("toml")}
	slices.Sort(removed)
	slices.Sort(rep.Removed)
	if !slices.Equal(rep.Removed, removed) {
		t.Errorf("removed %v, want %v", rep.Removed, removed)
	}
	checkUserFiles(t, dir)
	for _, name := range want {
		parseVectorFile(t, FormatYAML, []byte(readFile(t, dir, name)))
	}

	rep, err = Render(ctx, opts)
	if err != nil || len(rep.Written) != 0 || len(rep.Removed) != 0 {
		t.Errorf("second run changed something: %+v %v", rep, err)
	}
}

// With nothing to ship, Render writes the placeholder and removes only
// drover's files: the predecessor emptied the whole directory.
func TestRenderNoAllocations(t *testing.T) {
	srv := nomadtest.New(t)
	dir := t.TempDir()
	seedUserFiles(t, dir)
	cfg := serverConfig(srv, dir)
	n := cfg.Names()
	writeFile(t, dir, n.AllocFile(idA, "toml"), "# gone\n")
	opts, _, _ := testOptions(t, cfg)
	rep, err := Render(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.Files, []string{n.PlaceholderFile("toml")}) {
		t.Errorf("files %v", rep.Files)
	}
	checkUserFiles(t, dir)
}

func TestRenderErrors(t *testing.T) {
	t.Run("forbidden", func(t *testing.T) {
		srv := nomadtest.New(t)
		srv.RequireToken("secret")
		opts, _, _ := testOptions(t, serverConfig(srv, t.TempDir()))
		_, err := Render(context.Background(), opts)
		var ae *nomad.APIError
		if !errors.As(err, &ae) || ae.Kind != nomad.KindForbidden {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		srv := nomadtest.New(t)
		srv.Down()
		dir := t.TempDir()
		seedUserFiles(t, dir)
		opts, _, logs := testOptions(t, serverConfig(srv, dir))
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		_, err := Render(ctx, opts)
		if err == nil || !strings.Contains(err.Error(), "time ran out") || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v", err)
		}
		if !strings.Contains(logs.String(), "not reachable") {
			t.Errorf("the cause is not logged:\n%s", logs)
		}
		checkUserFiles(t, dir)
	})
	t.Run("bad template", func(t *testing.T) {
		srv := nomadtest.New(t)
		srv.LoadFixture(nomadtest.FixtureNodeAllocations)
		dir := t.TempDir()
		cfg := serverConfig(srv, dir)
		cfg.TemplatesDir = writeTemplates(t, map[string]string{AllocTemplate: "x = {{ .AllocID }}\n"})
		opts, _, _ := testOptions(t, cfg)
		if _, err := Render(context.Background(), opts); err == nil || !strings.Contains(err.Error(), "not valid TOML") {
			t.Errorf("err = %v", err)
		}
		if entries, _ := readDirNames(dir); len(entries) != 0 {
			t.Errorf("files written despite the error: %v", entries)
		}
	})
}

func readDirNames(dir string) ([]string, error) {
	d, err := OpenDir(dir, testNames())
	if err != nil {
		return nil, err
	}
	owned, err := d.Owned()
	var names []string
	for _, o := range owned {
		names = append(names, o.Name)
	}
	return names, err
}
