package cloudwatchlogs

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
)

// newClient returns a CloudWatch Logs client configured the way the AWS
// CLI is (config.LoadDefaultConfig: environment, shared config and
// credentials files, SSO, web identity, container and instance roles),
// with the region and endpoint of the configuration. The SDK does not
// retry: the driver does, with its backoff, logging and metrics.
// Credentials are fetched at the first call, not here. The transports the
// client builds are kept in tr, so that the sink can close their idle
// connections when it stops.
func newClient(ctx context.Context, c *Config, tr *transports) (*cloudwatchlogs.Client, error) {
	hc := awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConnsPerHost = c.Request.Concurrency
		tr.add(t)
	})
	opts := []func(*awsconfig.LoadOptions) error{
		awsconfig.WithRetryer(func() aws.Retryer { return aws.NopRetryer{} }),
		awsconfig.WithHTTPClient(hc),
	}
	if c.Region != "" {
		opts = append(opts, awsconfig.WithRegion(c.Region))
	}
	ac, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("loading the AWS configuration: %w", err)
	}
	if ac.Region == "" {
		return nil, errors.New("no AWS region: set region in the sink, or AWS_REGION in the environment")
	}
	return cloudwatchlogs.NewFromConfig(ac, func(o *cloudwatchlogs.Options) {
		if c.Endpoint != "" {
			o.BaseEndpoint = aws.String(c.Endpoint)
		}
	}), nil
}

// transports are the HTTP transports of a client (the SDK builds its own
// from the options, for example with AWS_CA_BUNDLE).
type transports struct {
	mu   sync.Mutex
	list []*http.Transport
}

func (t *transports) add(tr *http.Transport) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.list = append(t.list, tr)
}

// closeIdle closes the idle connections of every transport.
func (t *transports) closeIdle() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, tr := range t.list {
		tr.CloseIdleConnections()
	}
}
