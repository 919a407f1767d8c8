package journald

import (
	"fmt"

	"github.com/drover-dev/drover/internal/component"
)

func init() {
	component.Register(component.Registration{
		Kind:      component.KindSource,
		Type:      SourceType,
		NewConfig: func() component.Config { return NewConfig() },
		BuildSource: func(ctx component.Context, cfg component.Config) (component.Source, error) {
			c, ok := cfg.(*Config)
			if !ok {
				return nil, fmt.Errorf("journald: unexpected configuration type %T", cfg)
			}
			return New(ctx, c)
		},
	})
}
