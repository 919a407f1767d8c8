package vector

import (
	"strconv"
	"strings"
)

// remapProgram returns the VRL program of a task's remap transform:
//
//	.nomad = {
//	  "namespace": "apps",
//	  ...
//	}
//	.stream = if starts_with(string!(.file), "<logs>/<task>.stdout.") { "stdout" } else { "stderr" }
//
// .nomad holds the same fields as the nomad_logs source's "nomad" object.
// The file source of the task reads exactly the task's stdout and stderr
// files, so a path that is not stdout's is stderr's. Every value is a VRL
// string literal made by VRLString.
func remapProgram(td *TaskData) string {
	var b strings.Builder
	b.WriteString(".nomad = ")
	writeVRLObject(&b, td.Nomad, "")
	b.WriteByte('\n')
	var stdout, other string
	for _, s := range td.Streams {
		if s.Name == "stdout" {
			stdout = s.PathPrefix
		} else {
			other = s.Name
		}
	}
	switch {
	case stdout != "" && other != "":
		b.WriteString(".stream = if starts_with(string!(.file), ")
		b.WriteString(VRLString(stdout))
		b.WriteString(") { \"stdout\" } else { ")
		b.WriteString(VRLString(other))
		b.WriteString(" }\n")
	case len(td.Streams) == 1:
		b.WriteString(".stream = ")
		b.WriteString(VRLString(td.Streams[0].Name))
		b.WriteByte('\n')
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// writeVRLObject writes fields as a VRL object literal, one member per
// line, indented below indent.
func writeVRLObject(b *strings.Builder, fields []Field, indent string) {
	if len(fields) == 0 {
		b.WriteString("{}")
		return
	}
	inner := indent + "  "
	b.WriteString("{\n")
	for _, f := range fields {
		b.WriteString(inner)
		b.WriteString(VRLString(f.Key))
		b.WriteString(": ")
		switch v := f.Value.(type) {
		case string:
			b.WriteString(VRLString(v))
		case int64:
			b.WriteString(strconv.FormatInt(v, 10))
		case []Field:
			writeVRLObject(b, v, inner)
		}
		b.WriteString(",\n")
	}
	b.WriteString(indent)
	b.WriteByte('}')
}
