package nomadevents

import (
	"github.com/drover-dev/drover/internal/component"
)

func init() { component.RegisterSource(SourceType, NewConfig, New) }
