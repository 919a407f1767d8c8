// Package plugins links every built-in component type into the binary.
// Importing it registers them with internal/component.
package plugins

import (
	_ "github.com/drover-dev/drover/internal/sink/clickhouse"
	_ "github.com/drover-dev/drover/internal/sink/cloudwatchlogs"
	_ "github.com/drover-dev/drover/internal/sink/elasticsearch"
	_ "github.com/drover-dev/drover/internal/sink/file"
	_ "github.com/drover-dev/drover/internal/sink/http"
	_ "github.com/drover-dev/drover/internal/sink/kafka"
	_ "github.com/drover-dev/drover/internal/sink/loki"
	_ "github.com/drover-dev/drover/internal/sink/opentelemetry"
	_ "github.com/drover-dev/drover/internal/sink/stdout"
	_ "github.com/drover-dev/drover/internal/source/file"
	_ "github.com/drover-dev/drover/internal/source/journald"
	_ "github.com/drover-dev/drover/internal/source/kafka"
	_ "github.com/drover-dev/drover/internal/source/kuberneteslogs"
	_ "github.com/drover-dev/drover/internal/source/nomadevents"
	_ "github.com/drover-dev/drover/internal/source/nomadlogs"
	_ "github.com/drover-dev/drover/internal/transform/dedupe"
	_ "github.com/drover-dev/drover/internal/transform/filter"
	_ "github.com/drover-dev/drover/internal/transform/multiline"
	_ "github.com/drover-dev/drover/internal/transform/parse"
	_ "github.com/drover-dev/drover/internal/transform/remap"
	_ "github.com/drover-dev/drover/internal/transform/route"
	_ "github.com/drover-dev/drover/internal/transform/sample"
	_ "github.com/drover-dev/drover/internal/transform/throttle"
)
