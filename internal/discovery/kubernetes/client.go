package kubernetes

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
)

// Client is what discovery asks of the Kubernetes API: lists and watches
// of pods (all namespaces; the options carry the field selector) and of
// namespaces.
//
// NewClient makes one on client-go's REST client with a scheme of the
// core group only. client-go's generated clientset (and even its typed
// core client) registers every API group through
// k8s.io/client-go/kubernetes/scheme, which makes drover's binary about
// 23 MB larger; the requests, their encoding, the watch decoding, retries
// and authentication are the same client-go code either way.
type Client interface {
	ListPods(ctx context.Context, o metav1.ListOptions) (*corev1.PodList, error)
	WatchPods(ctx context.Context, o metav1.ListOptions) (watch.Interface, error)
	ListNamespaces(ctx context.Context, o metav1.ListOptions) (*corev1.NamespaceList, error)
	WatchNamespaces(ctx context.Context, o metav1.ListOptions) (watch.Interface, error)
}

// coreScheme knows the core group's types and the meta types of lists,
// watch events and options.
var (
	coreScheme     = runtime.NewScheme()
	coreCodecs     = serializer.NewCodecFactory(coreScheme)
	parameterCodec = runtime.NewParameterCodec(coreScheme)
)

func init() {
	if err := corev1.AddToScheme(coreScheme); err != nil {
		panic(err)
	}
	metav1.AddToGroupVersion(coreScheme, corev1.SchemeGroupVersion)
}

// restClient is a Client on client-go's REST client.
type restClient struct{ rc rest.Interface }

// NewClient returns a Client for the API server of c (see RESTConfig).
func NewClient(c *rest.Config) (Client, error) {
	cfg := rest.CopyConfig(c)
	cfg.GroupVersion = &corev1.SchemeGroupVersion
	cfg.APIPath = "/api"
	cfg.NegotiatedSerializer = coreCodecs.WithoutConversion()
	if cfg.UserAgent == "" {
		cfg.UserAgent = "drover"
	}
	rc, err := rest.RESTClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	return restClient{rc}, nil
}

func (c restClient) ListPods(ctx context.Context, o metav1.ListOptions) (*corev1.PodList, error) {
	out := &corev1.PodList{}
	err := c.rc.Get().Resource("pods").VersionedParams(&o, parameterCodec).Timeout(timeout(o)).Do(ctx).Into(out)
	return out, err
}

func (c restClient) WatchPods(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
	o.Watch = true
	return c.rc.Get().Resource("pods").VersionedParams(&o, parameterCodec).Timeout(timeout(o)).Watch(ctx)
}

func (c restClient) ListNamespaces(ctx context.Context, o metav1.ListOptions) (*corev1.NamespaceList, error) {
	out := &corev1.NamespaceList{}
	err := c.rc.Get().Resource("namespaces").VersionedParams(&o, parameterCodec).Timeout(timeout(o)).Do(ctx).Into(out)
	return out, err
}

func (c restClient) WatchNamespaces(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
	o.Watch = true
	return c.rc.Get().Resource("namespaces").VersionedParams(&o, parameterCodec).Timeout(timeout(o)).Watch(ctx)
}

// timeout is the request timeout of a list or watch that names one, as
// the generated clients set it.
func timeout(o metav1.ListOptions) time.Duration {
	if o.TimeoutSeconds != nil {
		return time.Duration(*o.TimeoutSeconds) * time.Second
	}
	return 0
}
