package kubernetes

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
)

// clientsetClient adapts a client-go clientset (the fake one, in tests)
// to Client.
type clientsetClient struct{ cs kubernetes.Interface }

func fromClientset(cs kubernetes.Interface) Client { return clientsetClient{cs} }

func (c clientsetClient) ListPods(ctx context.Context, o metav1.ListOptions) (*corev1.PodList, error) {
	return c.cs.CoreV1().Pods("").List(ctx, o)
}

func (c clientsetClient) WatchPods(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
	return c.cs.CoreV1().Pods("").Watch(ctx, o)
}

func (c clientsetClient) ListNamespaces(ctx context.Context, o metav1.ListOptions) (*corev1.NamespaceList, error) {
	return c.cs.CoreV1().Namespaces().List(ctx, o)
}

func (c clientsetClient) WatchNamespaces(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
	return c.cs.CoreV1().Namespaces().Watch(ctx, o)
}

// IsWatchListSemanticsUnSupported passes on what the clientset says (the
// fake one cannot stream lists).
func (c clientsetClient) IsWatchListSemanticsUnSupported() bool {
	u, ok := c.cs.(interface{ IsWatchListSemanticsUnSupported() bool })
	return ok && u.IsWatchListSemanticsUnSupported()
}
