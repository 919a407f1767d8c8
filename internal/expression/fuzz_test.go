package expression

import "testing"

// FuzzCompile feeds the compiler arbitrary text: it must return a program or
// an error, never panic; a compiled condition must evaluate without
// panicking, and where the native evaluator takes it, agree with the
// virtual machine whenever the machine gives an answer.
func FuzzCompile(f *testing.F) {
	for _, c := range conditions {
		f.Add(c.src)
	}
	f.Add(`a.b.c["d.e"] in [1, "x", nil, true]`)
	f.Add(`message matches "\\d+"`)
	e := testEvent()
	f.Fuzz(func(t *testing.T, src string) {
		if p, err := Compile(src); err == nil {
			_, _ = p.Eval(e)
		}
		p, err := CompileCondition(src)
		if err != nil {
			return
		}
		got, _ := p.Match(e)
		if !p.Native() {
			return
		}
		out, err := p.run(e)
		if err != nil {
			return
		}
		if want, _ := out.(bool); want != got {
			t.Fatalf("%q: native %v, VM %v", src, got, want)
		}
	})
}
