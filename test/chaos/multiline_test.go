package chaos

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// The multiline option puts a multiline transform between the source and
// the sink, so that the suite checks that joined events keep the
// acknowledgements of every line they hold: a kill while a record is half
// read must neither lose it nor ship it in halves.
//
// The transform joins pairs of lines: a short line whose seq ends in 0
// starts a record and a short line whose seq ends in 1 of the same stream
// continues it (the writers' lines carry "#<stream>.<seq>#"). A record
// whose continuation does not come next (a rotation, a stop) is completed
// alone after flush_timeout. Short lines are never truncated, and a partial
// line can only be a record's last, so the receiver splits a joined message
// back into its lines and gives the record's flags to the last one.
//
// CHAOS_MULTILINE=0 leaves the transform out.
var multilineOption = os.Getenv("CHAOS_MULTILINE") != "0"

// pipelineBlocks returns the transform blocks to write before the sink, and
// the sink's input.
func pipelineBlocks() (blocks, sinkInput string) {
	if !multilineOption {
		return "", "tasks"
	}
	return multilineBlock, "joined"
}

// multilineBlock is the transform; HCL reads "\\d" as \d.
var multilineBlock = strings.NewReplacer(`\`, `\\`).Replace(`
transform "multiline" "joined" {
  inputs           = ["tasks"]
  start_pattern    = "(?s)^#\d+\.\d*0#.{0,400}$"
  continue_pattern = "(?s)^#\d+\.\d*1#.{0,400}$"
  flush_timeout    = "300ms"
  hints            = false
}
`)

// splitJoined wraps the checker's observe: a record the multiline
// transform joined is observed as the lines it holds.
func splitJoined(observe func(*record)) func(*record) {
	if !multilineOption {
		return observe
	}
	return func(r *record) {
		if r.Message == nil || !strings.Contains(*r.Message, "\n") {
			observe(r)
			return
		}
		lines := strings.Split(*r.Message, "\n")
		for i, l := range lines {
			part := *r
			part.Message = &l
			if i < len(lines)-1 {
				part.Truncated, part.Partial = false, false
			}
			observe(&part)
		}
	}
}

// TestMultilinePatternsJoinWritersLines checks that the option's patterns
// match the writers' lines: most lines whose seq ends in 0 start a record
// and most that end in 1 continue one, so the suite joins real records.
func TestMultilinePatternsJoinWritersLines(t *testing.T) {
	start := regexp.MustCompile(`(?s)^#\d+\.\d*0#.{0,400}$`)
	cont := regexp.MustCompile(`(?s)^#\d+\.\d*1#.{0,400}$`)
	decoded := strings.ReplaceAll(multilineBlock, `\\`, `\`)
	if !strings.Contains(decoded, start.String()) || !strings.Contains(decoded, cont.String()) {
		t.Fatalf("the patterns here are not the option's:\n%s", multilineBlock)
	}
	starts, conts := 0, 0
	for seq := 0; seq < 1000; seq++ {
		line := strings.TrimSuffix(string(appendLine(nil, 42, 3, seq)), "\n")
		switch {
		case start.MatchString(line):
			starts++
		case cont.MatchString(line):
			conts++
		}
	}
	t.Logf("of 1000 lines, %d start a record and %d continue one", starts, conts)
	if starts < 50 || conts < 50 {
		t.Fatalf("of 1000 lines, %d start a record and %d continue one", starts, conts)
	}
}
