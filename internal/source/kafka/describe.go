package kafka

import "github.com/drover-dev/drover/internal/status"

// Describe shows the group membership, partitions, offsets and lag
// (status.Describer).
func (s *Source) Describe() status.Description { return status.Description{Detail: s.Status()} }
