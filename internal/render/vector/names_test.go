package vector

import "testing"

func TestOwnedNames(t *testing.T) {
	n := Names{FilePrefix: "drover_nomad_", SourcePrefix: "drover_source_", TransformPrefix: "drover_nomad_"}
	const id = "9c75b10c-c61b-8def-104e-7dab6f20befb"
	cases := []struct {
		name      string
		key       string
		format    string
		temp, own bool
	}{
		{"drover_nomad_" + id + ".toml", id, "toml", false, true},
		{"drover_nomad_" + id + ".yaml", id, "yaml", false, true},
		{"drover_nomad_placeholder.toml", "placeholder", "toml", false, true},
		{".drover_nomad_" + id + ".toml.tmp-123456", id, "toml", true, true},
		{".drover_nomad_placeholder.yaml.tmp-1", "placeholder", "yaml", true, true},
		// Everything else belongs to someone else.
		{"drover_nomad_" + id + ".yml", "", "", false, false},
		{"drover_nomad_" + id + ".json", "", "", false, false},
		{"drover_nomad_" + id + ".toml.bak", "", "", false, false},
		{"drover_nomad_sinks.toml", "", "", false, false},
		{"drover_nomad_" + id[:35] + ".toml", "", "", false, false},
		{"drover_nomad_9C75B10C-C61B-8DEF-104E-7DAB6F20BEFB.toml", "", "", false, false},
		{"vector.toml", "", "", false, false},
		{"my_" + "drover_nomad_" + id + ".toml", "", "", false, false},
		{".drover_nomad_" + id + ".toml.tmp-", "", "", false, false},
		{".drover_nomad_" + id + ".toml.tmp-12a", "", "", false, false},
		{".drover_nomad_" + id + ".toml", "", "", false, false},
		{".drover_nomad_placeholder.never", "", "", false, false},
		{"", "", "", false, false},
	}
	for _, c := range cases {
		key, format, temp, own := n.Owned(c.name)
		if key != c.key || format != c.format || temp != c.temp || own != c.own {
			t.Errorf("Owned(%q) = %q %q %v %v, want %q %q %v %v", c.name, key, format, temp, own, c.key, c.format, c.temp, c.own)
		}
	}
	// The names drover writes are its own.
	for _, name := range []string{n.AllocFile(id, FormatTOML), n.AllocFile(id, FormatYAML), n.PlaceholderFile(FormatTOML)} {
		if _, _, _, own := n.Owned(name); !own {
			t.Errorf("%s is written but not recognised", name)
		}
	}
}

func TestComponentSafe(t *testing.T) {
	if got := ComponentSafe("api-proxy_2"); got != "api-proxy_2" {
		t.Errorf("a safe name changed: %q", got)
	}
	seen := map[string]string{}
	for _, name := range []string{"a.b", "a_b", "a b", "a/b", "a.b.", "ü", "", "a.b_", "log.shipper[1]"} {
		got := ComponentSafe(name)
		if !isBareKey(got) || got == "" {
			t.Errorf("ComponentSafe(%q) = %q is not a safe name", name, got)
		}
		if other, dup := seen[got]; dup {
			t.Errorf("ComponentSafe(%q) = ComponentSafe(%q) = %q", name, other, got)
		}
		seen[got] = name
	}
}

func TestIsAllocID(t *testing.T) {
	for s, want := range map[string]bool{
		"9c75b10c-c61b-8def-104e-7dab6f20befb":  true,
		"9c75b10c-c61b-8def-104e-7dab6f20befbb": false,
		"9c75b10cxc61b-8def-104e-7dab6f20befb":  false,
		"9c75b10c-c61b-8def-104e-7dab6f20befg":  false,
		"../../../etc/passwd-0000-000000000000": false,
		"":                                      false,
	} {
		if IsAllocID(s) != want {
			t.Errorf("IsAllocID(%q) != %v", s, want)
		}
	}
}
