package vector

import (
	"io"
	"log/slog"

	"github.com/hashicorp/nomad/api"

	"github.com/drover-dev/drover/internal/discovery/nomad"
)

// Options are the inputs of Render and Watch.
type Options struct {
	// Config must have passed Validate.
	Config Config
	// Client talks to Nomad; nil builds one from Config.Nomad.
	Client *api.Client
	// Logger receives the logs; nil discards them.
	Logger *slog.Logger
	// Synced, when not nil, is called after every sync of the output
	// directory, with what it did and its error (nil when it succeeded),
	// from the goroutine that called Render or Watch.
	Synced func(Report, error)
}

func (o *Options) logger() *slog.Logger {
	if o.Logger != nil {
		return o.Logger
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// newWatcher builds the discovery of the options, and the function that
// releases the Nomad client when the options did not bring one.
func (o *Options) newWatcher(log *slog.Logger) (*nomad.Watcher, func(), error) {
	client, release := o.Client, func() {}
	if client == nil {
		c, err := o.Config.Nomad.NewClient()
		if err != nil {
			return nil, nil, err
		}
		client, release = c, c.Close
	}
	w, err := nomad.New(nomad.Options{Config: o.Config.Config, SourceID: SourceID, Client: client, Logger: log})
	if err != nil {
		release()
		return nil, nil, err
	}
	return w, release, nil
}
