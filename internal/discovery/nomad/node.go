package nomad

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/hashicorp/nomad/api"
)

// Node is the Nomad client node whose allocations are watched.
type Node struct {
	// ID is the node's ID.
	ID string
	// Name is the node's name, the "host" field of its events.
	Name string
	// Datacenter and Region of the node.
	Datacenter string
	Region     string
	// AllocDir is the directory with one directory per allocation.
	AllocDir string
}

// ACL capabilities named in permission errors.
const (
	capAgentRead = "agent:read"
	capNodeRead  = "node:read"
	// capNodeAllocs: node:read lets the request through; allocations of
	// namespaces without read-job are left out silently.
	capNodeAllocs = "node:read (and namespace read-job on the namespaces to ship)"
)

// agentSelf is the part of GET /v1/agent/self that discovery reads.
type agentSelf struct {
	Config struct {
		DataDir    string
		NodeName   string
		Region     string
		Datacenter string
		Client     *struct {
			Enabled  bool
			AllocDir string
		}
	} `json:"config"`
	Stats struct {
		Client map[string]string `json:"client"`
	} `json:"stats"`
}

// ResolveNode finds the node to watch. NodeID and AllocDir come from cfg
// when set; otherwise from the agent (GET /v1/agent/self, agent:read): the
// node id is stats.client.node_id (ErrNotClient when the agent runs no
// client), the alloc dir is config.Client.AllocDir or <config.DataDir>/alloc.
// The node's name and datacenter come from GET /v1/node/<id> (node:read).
//
// Errors are *APIError (unreachable, 403 naming the capability, 404 for an
// unknown node id), ErrNotClient, or ctx.Err(). When only the node's own
// description cannot be read, the node returned with the error holds what
// the agent and the configuration told (ID, AllocDir, Region, and the name
// and datacenter of the agent's own node): enough to find the log files.
func ResolveNode(ctx context.Context, c *api.Client, cfg *Config) (Node, error) {
	n := Node{ID: cfg.NodeID, AllocDir: cfg.AllocDir, Region: cfg.Nomad.Region}
	if n.ID == "" || n.AllocDir == "" {
		self, err := readAgentSelf(ctx, c)
		if err != nil {
			return Node{}, err
		}
		if n.ID == "" {
			n.ID = self.Stats.Client["node_id"]
			if n.ID == "" {
				return Node{}, ErrNotClient
			}
			// The agent's own node: its config tells name, dc and region.
			n.Name, n.Datacenter = self.Config.NodeName, self.Config.Datacenter
		}
		if n.AllocDir == "" {
			if self.Config.Client != nil && self.Config.Client.AllocDir != "" {
				n.AllocDir = self.Config.Client.AllocDir
			} else if self.Config.DataDir != "" {
				n.AllocDir = filepath.Join(self.Config.DataDir, "alloc")
			} else {
				return Node{}, fmt.Errorf("the Nomad agent reports neither client.alloc_dir nor data_dir: set alloc_dir")
			}
		}
		if n.Region == "" {
			n.Region = self.Config.Region
		}
	}
	path := "/v1/node/" + n.ID
	info, _, err := c.Nodes().Info(n.ID, (&api.QueryOptions{}).WithContext(ctx))
	if err = newAPIError(ctx, "reading node "+n.ID, path, capNodeRead, err); err != nil {
		return n, err
	}
	if info.Name != "" {
		n.Name = info.Name
	}
	if info.Datacenter != "" {
		n.Datacenter = info.Datacenter
	}
	return n, nil
}

func readAgentSelf(ctx context.Context, c *api.Client) (*agentSelf, error) {
	const path = "/v1/agent/self"
	var self agentSelf
	_, err := c.Raw().Query(path, &self, (&api.QueryOptions{}).WithContext(ctx))
	if err = newAPIError(ctx, "reading the agent's configuration", path, capAgentRead, err); err != nil {
		return nil, err
	}
	return &self, nil
}
