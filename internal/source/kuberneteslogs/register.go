package kuberneteslogs

import (
	"fmt"

	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/discovery/kubernetes"
)

func init() {
	component.Register(component.Registration{
		Kind:      component.KindSource,
		Type:      kubernetes.SourceType,
		NewConfig: func() component.Config { return NewConfig() },
		BuildSource: func(ctx component.Context, cfg component.Config) (component.Source, error) {
			c, ok := cfg.(*Config)
			if !ok {
				return nil, fmt.Errorf("kubernetes_logs source: unexpected config type %T", cfg)
			}
			return New(ctx, c)
		},
	})
}
