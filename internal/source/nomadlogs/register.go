package nomadlogs

import (
	"github.com/drover-dev/drover/internal/component"
	"github.com/drover-dev/drover/internal/discovery/nomad"
)

func init() { component.RegisterSource(nomad.SourceType, NewConfig, New) }
