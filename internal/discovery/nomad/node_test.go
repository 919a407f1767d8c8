package nomad

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/hashicorp/nomad/api"

	"github.com/drover-dev/drover/internal/nomadtest"
)

func resolve(t *testing.T, srv *nomadtest.Server, edit func(*Config)) (Node, error) {
	t.Helper()
	cfg := testConfig(srv)
	if edit != nil {
		edit(&cfg)
	}
	c, err := api.NewClient(cfg.Nomad.APIConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return ResolveNode(context.Background(), c, &cfg)
}

func TestResolveNodeFromAgent(t *testing.T) {
	srv := nomadtest.New(t)
	n, err := resolve(t, srv, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n != fixtureNode {
		t.Errorf("node = %+v, want %+v", n, fixtureNode)
	}

	a := srv.Agent()
	a.AllocDir = "/srv/nomad/alloc"
	a.Datacenter = "eu-west"
	srv.SetAgent(a)
	n, err = resolve(t, srv, nil)
	if err != nil || n.AllocDir != "/srv/nomad/alloc" || n.Datacenter != "eu-west" {
		t.Errorf("client.alloc_dir set: %+v, %v", n, err)
	}
}

func TestResolveNodeConfigured(t *testing.T) {
	srv := nomadtest.New(t)
	n, err := resolve(t, srv, func(c *Config) {
		c.NodeID = nomadtest.FixtureNodeID
		c.AllocDir = "/custom/alloc"
	})
	if err != nil {
		t.Fatal(err)
	}
	if n.ID != nomadtest.FixtureNodeID || n.AllocDir != "/custom/alloc" || n.Name != nomadtest.FixtureNodeName {
		t.Errorf("node = %+v", n)
	}
	if got := srv.Requests(nomadtest.EndpointAgentSelf); got != 0 {
		t.Errorf("agent self read %d times although node_id and alloc_dir are set", got)
	}

	// Only the alloc dir configured: the node id still comes from the agent.
	n, err = resolve(t, srv, func(c *Config) { c.AllocDir = "/custom/alloc" })
	if err != nil || n.ID != nomadtest.FixtureNodeID || n.AllocDir != "/custom/alloc" {
		t.Errorf("node = %+v, %v", n, err)
	}
}

func TestResolveNodeErrors(t *testing.T) {
	srv := nomadtest.New(t)

	_, err := resolve(t, srv, func(c *Config) { c.NodeID = "00000000-0000-0000-0000-000000000000"; c.AllocDir = "/a" })
	var ae *APIError
	if !errors.As(err, &ae) || ae.Kind != KindNotFound || !ae.Permanent() || !strings.Contains(err.Error(), "node not found") {
		t.Errorf("unknown node: %v", err)
	}

	a := srv.Agent()
	a.Client = false
	srv.SetAgent(a)
	if _, err := resolve(t, srv, nil); !errors.Is(err, ErrNotClient) {
		t.Errorf("server-only agent: %v", err)
	}
	a.Client, a.DataDir = true, ""
	srv.SetAgent(a)
	if _, err := resolve(t, srv, nil); err == nil || !strings.Contains(err.Error(), "set alloc_dir") {
		t.Errorf("agent without data dir: %v", err)
	}

	srv.Down()
	_, err = resolve(t, srv, nil)
	if !errors.As(err, &ae) || ae.Kind != KindUnreachable || ae.Permanent() ||
		!strings.Contains(err.Error(), "Nomad agent not reachable") || !strings.Contains(err.Error(), "/v1/agent/self") {
		t.Errorf("agent down: %v", err)
	}
}

func TestResolveNodeSendsToken(t *testing.T) {
	srv := nomadtest.New(t)
	srv.RequireToken("s3cret")
	if _, err := resolve(t, srv, nil); err == nil || !strings.Contains(err.Error(), "agent:read") {
		t.Errorf("without token: %v", err)
	}
	if _, err := resolve(t, srv, func(c *Config) { c.Nomad.Token = "s3cret" }); err != nil {
		t.Errorf("with token: %v", err)
	}
	for _, r := range srv.RequestLog()[1:] {
		if r.Token != "s3cret" {
			t.Errorf("request %s without the token", r.Path)
		}
	}
}

func TestClassify(t *testing.T) {
	if k := classify(errors.New("strange")); k != KindBadResponse {
		t.Errorf("unknown error: %s", k)
	}
	if kindOf(errors.New("x")) != "" {
		t.Error("kindOf of a plain error")
	}
	if !permanent(ErrNotClient) || permanent(&APIError{Kind: KindServer}) {
		t.Error("permanent()")
	}
}

// Forbidden to read the node's own description (node:read missing, or the
// endpoint failing), the watcher still knows from the agent where the log
// files are: a source finds and ships them meanwhile (found by the chaos
// suite: a process that could not read the node read no file at all).
func TestNodeDescriptionForbiddenKeepsTheAgentsAllocDir(t *testing.T) {
	h := newHarness(t, nil, nil)
	h.srv.InjectFault(nomadtest.EndpointNode, nomadtest.Fault{Status: 403}, 0)
	if n, ok := h.w.Node(); ok || n.AllocDir != "" {
		t.Fatalf("before Run: %+v, %v", n, ok)
	}
	if err := h.w.Run(context.Background(), h.up); err == nil {
		t.Fatal("Run without node:read did not fail")
	}
	n, ok := h.w.Node()
	if ok || n.ID != fixtureNode.ID || n.AllocDir != fixtureNode.AllocDir || n.Name != fixtureNode.Name {
		t.Fatalf("Node() = %+v, %v; want the agent's node id %s and alloc dir %s, not resolved", n, ok, fixtureNode.ID, fixtureNode.AllocDir)
	}
	h.srv.ClearFaults()
	h.start()
	h.recv()
	if n, ok := h.w.Node(); !ok || n != fixtureNode {
		t.Fatalf("once the node can be read: %+v, %v", n, ok)
	}
}
