package kafkaclient

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/drover-dev/drover/internal/config"
	"github.com/drover-dev/drover/internal/httpclient"
	"github.com/drover-dev/drover/internal/httpclient/httpclienttest"
)

func TestValidate(t *testing.T) {
	ok := func() Config { c := Defaults(); c.Brokers = []string{"k:9092", "k2", "[::1]:9092"}; return c }
	if c := ok(); c.Validate() != nil {
		t.Fatalf("valid config: %v", c.Validate())
	}
	cases := []struct {
		change func(*Config)
		field  string
	}{
		{func(c *Config) { c.Brokers = nil }, "brokers"},
		{func(c *Config) { c.Brokers = []string{"a b:1"} }, "brokers"},
		{func(c *Config) { c.Brokers = []string{"k:"} }, "brokers"},
		{func(c *Config) { c.ClientID = "" }, "client_id"},
		{func(c *Config) { c.ConnectTimeout = 0 }, "connect_timeout"},
		{func(c *Config) { c.SASL = &SASLConfig{Mechanism: "gssapi", Username: "u"} }, "sasl.mechanism"},
		{func(c *Config) { c.SASL = &SASLConfig{Mechanism: SASLPlain} }, "sasl.username"},
		{func(c *Config) { c.TLS = &httpclient.TLSConfig{KeyFile: "k.pem"} }, "tls.cert_file"},
	}
	for _, tc := range cases {
		c := ok()
		tc.change(&c)
		err := c.Validate()
		var fe *config.FieldError
		if !errors.As(err, &fe) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("want an error naming %s, got %v", tc.field, err)
		}
	}
}

// TestOptionsConnect: the options reach a cluster over TLS with each SASL
// mechanism, and a wrong password does not get through.
func TestOptionsConnect(t *testing.T) {
	pki := httpclienttest.NewPKI(t)
	serverTLS := pki.NewServer(t, nil, false).TLS.Clone()
	for _, mech := range []struct{ name, kfake string }{
		{SASLPlain, "PLAIN"}, {SASLScramSHA256, "SCRAM-SHA-256"}, {SASLScramSHA512, "SCRAM-SHA-512"},
	} {
		t.Run(mech.name, func(t *testing.T) {
			kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableSASL(),
				kfake.Superuser(mech.kfake, "drover", "s3cret"), kfake.TLS(serverTLS))
			if err != nil {
				t.Fatal(err)
			}
			defer kc.Close()
			c := Defaults()
			c.Brokers = kc.ListenAddrs()
			c.ConnectTimeout = 2 * time.Second
			c.TLS = &httpclient.TLSConfig{CAFile: pki.CAFile, ServerName: pki.ServerName}
			c.SASL = &SASLConfig{Mechanism: mech.name, Username: "drover", Password: "s3cret"}
			if err := metadata(t, &c); err != nil {
				t.Fatalf("metadata: %v", err)
			}
			c.SASL.Password = "wrong"
			if err := metadata(t, &c); err == nil {
				t.Fatal("a wrong password got through")
			}
		})
	}
}

func metadata(t *testing.T, c *Config) error {
	t.Helper()
	opts, err := c.Options(nil)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(append(opts, kgo.RequestRetries(0))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
	return err
}
