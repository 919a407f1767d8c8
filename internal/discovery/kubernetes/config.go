package kubernetes

import (
	"errors"
	"os"
	"path/filepath"
	"time"

	"github.com/bmatcuk/doublestar/v4"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/drover-dev/drover/internal/config"
)

// Config is the discovery part of a kubernetes_logs source:
//
//	node_name        = ""               # default: $NODE_NAME (the downward API)
//	kubeconfig       = ""               # default: the in-cluster service account
//	pod_logs_dir     = "/var/log/pods"
//	annotations      = ["app.kubernetes.io/*"]
//	compressed       = "read"           # or "skip"
//	include { namespaces = ["apps-*"] }
//	exclude { namespaces = ["kube-system"], containers = ["istio-proxy"] }
type Config struct {
	// NodeName is the node whose pods are watched (the spec.nodeName field
	// selector); default the NODE_NAME environment variable, which the
	// DaemonSet sets from spec.nodeName.
	NodeName string `hcl:"node_name"`
	// Kubeconfig is a kubeconfig file; empty uses the pod's service account
	// (KUBERNETES_SERVICE_HOST, the mounted token and CA).
	Kubeconfig string `hcl:"kubeconfig"`
	// PodLogsDir is where the kubelet keeps container logs.
	PodLogsDir string `hcl:"pod_logs_dir"`
	// Annotations are glob patterns of the pod annotation keys copied into
	// the metadata; none by default (annotations are often large).
	Annotations []string `hcl:"annotations"`
	// Compressed says whether rotated files the kubelet compressed before
	// they were read to their end are read ("read") or skipped and reported
	// as lost ("skip").
	Compressed string `hcl:"compressed"`
	// ScanInterval is the period of the listing of PodLogsDir, which finds
	// the directories of pods the API has not shown and notices the ones
	// the kubelet removed.
	ScanInterval time.Duration `hcl:"scan_interval"`
	// UnknownPodWait is how long the files of a pod the API has not shown
	// wait for its metadata before they are shipped with what their path
	// tells (namespace, pod name and uid, container).
	UnknownPodWait time.Duration `hcl:"unknown_pod_wait"`
	// Include and Exclude select the containers whose logs are shipped.
	Include Selection `hcl:"include,block"`
	Exclude Selection `hcl:"exclude,block"`
}

// Defaults of Config.
const (
	DefaultPodLogsDir     = "/var/log/pods"
	DefaultScanInterval   = 10 * time.Second
	DefaultUnknownPodWait = 10 * time.Second
	CompressedRead        = "read"
	CompressedSkip        = "skip"

	minScanInterval = 100 * time.Millisecond
)

// DefaultConfig returns a Config with the defaults; NodeName is taken
// from NODE_NAME when Validate finds it empty.
func DefaultConfig() Config {
	return Config{
		PodLogsDir:     DefaultPodLogsDir,
		Compressed:     CompressedRead,
		ScanInterval:   DefaultScanInterval,
		UnknownPodWait: DefaultUnknownPodWait,
	}
}

// NodeNameEnv is the environment variable that names the node when
// node_name is not set.
const NodeNameEnv = "NODE_NAME"

// Validate checks the configuration and fills NodeName from NODE_NAME.
// Errors are *config.FieldError with paths relative to the source block,
// joined with errors.Join.
func (c *Config) Validate() error {
	var errs []error
	if c.NodeName == "" {
		c.NodeName = os.Getenv(NodeNameEnv)
	}
	if c.NodeName == "" {
		errs = append(errs, config.Errorf("node_name", "is required: set it, or set %s (the DaemonSet sets it from spec.nodeName)", NodeNameEnv))
	}
	if !filepath.IsAbs(c.PodLogsDir) {
		errs = append(errs, config.Errorf("pod_logs_dir", "must be an absolute path, got %q", c.PodLogsDir))
	}
	switch c.Compressed {
	case CompressedRead, CompressedSkip:
	default:
		errs = append(errs, config.Errorf("compressed", "must be %q or %q, got %q", CompressedRead, CompressedSkip, c.Compressed))
	}
	if c.ScanInterval < minScanInterval {
		errs = append(errs, config.Errorf("scan_interval", "must be at least %s, got %s", minScanInterval, c.ScanInterval))
	}
	if c.UnknownPodWait < 0 {
		errs = append(errs, config.Errorf("unknown_pod_wait", "must not be negative, got %s", c.UnknownPodWait))
	}
	for i, p := range c.Annotations {
		if p == "" || !doublestar.ValidatePattern(p) {
			errs = append(errs, config.Errorf("annotations", "pattern %d (%q) is not a valid glob", i+1, p))
		}
	}
	errs = appendErrs(errs, config.Prefix("include", c.Include.Validate()))
	errs = appendErrs(errs, config.Prefix("exclude", c.Exclude.Validate()))
	return errors.Join(errs...)
}

// Selection is an include or exclude block.
//
//	include {
//	  namespaces       = ["apps-*"]          # globs of namespace names
//	  namespace_labels = "team=payments"     # a label selector on the namespace
//	  pod_labels       = "app notin (debug)" # a label selector on the pod
//	  containers       = ["*"]               # globs of container names
//	}
//
// A container is shipped when every include field that is set matches
// and no exclude field that is set matches.
type Selection struct {
	Namespaces      []string `hcl:"namespaces"`
	NamespaceLabels string   `hcl:"namespace_labels"`
	PodLabels       string   `hcl:"pod_labels"`
	Containers      []string `hcl:"containers"`
}

// Validate checks the globs and label selectors; errors name the field.
func (s Selection) Validate() error {
	var errs []error
	for _, d := range []struct {
		name     string
		patterns []string
	}{{"namespaces", s.Namespaces}, {"containers", s.Containers}} {
		for i, p := range d.patterns {
			if p == "" || !doublestar.ValidatePattern(p) {
				errs = append(errs, config.Errorf(d.name, "pattern %d (%q) is not a valid glob", i+1, p))
			}
		}
	}
	if _, err := labels.Parse(s.NamespaceLabels); err != nil {
		errs = append(errs, config.Errorf("namespace_labels", "is not a label selector: %v", err))
	}
	if _, err := labels.Parse(s.PodLabels); err != nil {
		errs = append(errs, config.Errorf("pod_labels", "is not a label selector: %v", err))
	}
	return errors.Join(errs...)
}

// appendErrs appends err to errs, flattening an errors.Join so that the
// loader sees every field error at the top level.
func appendErrs(errs []error, err error) []error {
	if err == nil {
		return errs
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			errs = appendErrs(errs, e)
		}
		return errs
	}
	return append(errs, err)
}
