package file

import "github.com/drover-dev/drover/internal/status"

// Describe lists the files the source follows, with their state and
// positions (status.Describer).
func (s *Source) Describe() status.Description {
	return status.Description{Targets: s.f.Targets(), Detail: s.f.FilesStatus()}
}
