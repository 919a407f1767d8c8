package file

import "github.com/drover-dev/drover/internal/status"

// Describe lists the files the source follows, with their state and
// positions, and the files its include patterns match that an exclude
// pattern leaves out, with the pattern (status.Describer). An excluded
// file's key is its path: it has no checkpoint.
func (s *Source) Describe() status.Description {
	ts := s.f.Targets()
	for _, e := range s.disc.Excluded() {
		ts = append(ts, status.Target{
			Kind: status.TargetFile, Key: e.Path, Path: e.Path, State: status.StateExcluded, Reason: e.Rule,
			Labels: map[string]string{"file": e.Path},
		})
	}
	return status.Description{Targets: ts, Detail: s.f.FilesStatus()}
}
