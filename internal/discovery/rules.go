package discovery

import (
	"fmt"
	"strings"
)

// NoPatternMatches is the rule that names an include field none of whose
// patterns matches: `include.tasks: no pattern matches ["web", "api-*"]`.
// Discoverers explain their exclusions with it, in the same words.
func NoPatternMatches(field string, patterns []string) string {
	q := make([]string, len(patterns))
	for i, p := range patterns {
		q[i] = fmt.Sprintf("%q", p)
	}
	return field + ": no pattern matches [" + strings.Join(q, ", ") + "]"
}
