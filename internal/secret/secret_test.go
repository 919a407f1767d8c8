package secret

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func TestIsSecretName(t *testing.T) {
	for name, want := range map[string]bool{
		"password": true, "token": true, "api_key": true, "secret_access_key": true, "session_token": true,
		"Authorization": true, "X-Api-Key": true, "sasl_password": true, "admin_token": true,
		"user": false, "uri": false, "token_file": false, "max_tokens_per_second": false, "key_file": false, "key": false,
	} {
		if IsSecretName(name) != want {
			t.Errorf("IsSecretName(%q) = %v", name, !want)
		}
	}
}

func TestRedactor(t *testing.T) {
	var s Set
	s.Add("s3cr3t-token")
	s.Add("ab") // too short to search for
	s.Add(`quo"te\pass`)
	s.AddURLPassword("https://elastic:hunter22@es.example:9200/")
	s.AddURLPassword("https://es.example:9200/") // none
	s.Add("s3cr3t-token")
	if got := s.Values(); len(got) != 3 {
		t.Fatalf("values: %q", got)
	}
	r := NewRedactor(s.Values()...)
	for in, want := range map[string]string{
		"Bearer s3cr3t-token refused":              "Bearer [redacted] refused",
		"POST https://elastic:hunter22@es.example": "POST https://elastic:[redacted]@es.example",
		`{"password":"quo\"te\\pass"}`:             `{"password":"[redacted]"}`,
		"nothing secret; ab stays":                 "nothing secret; ab stays",
	} {
		if got := r.Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
	var none *Redactor
	if none.Redact("x") != "x" || NewRedactor() != nil || NewRedactor("ab") != nil {
		t.Fatal("an empty redactor must change nothing")
	}
	// A secret that contains another is replaced whole.
	r = NewRedactor("abcd", "abcdefgh")
	if got := r.Redact("abcdefgh abcd"); got != "[redacted] [redacted]" {
		t.Fatalf("nested secrets: %q", got)
	}
}

type stringer string

func (s stringer) String() string { return string(s) }

func TestHandlerRedactsEveryAttribute(t *testing.T) {
	var buf bytes.Buffer
	h := NewHandler(slog.NewJSONHandler(&buf, nil), NewRedactor("tok-12345"))
	log := slog.New(h).With("component_id", "out", "static", "tok-12345")
	log.Info("sending with tok-12345 failed",
		"error", errors.New("401: invalid token tok-12345"),
		"uri", "http://x/?t=tok-12345",
		"stringer", stringer("tok-12345"),
		"list", []string{"a", "tok-12345"},
		"map", map[string]string{"h": "tok-12345"},
		slog.Group("g", "inner", "tok-12345"),
		"n", 3)
	out := buf.String()
	if strings.Contains(out, "tok-12345") || strings.Count(out, Mask) != 8 || !strings.Contains(out, `"n":3`) {
		t.Fatalf("log line: %s", out)
	}
	buf.Reset()
	h.SetRedactor(NewRedactor("rotated-9876"))
	log.Warn("now rotated-9876")
	if strings.Contains(buf.String(), "rotated-9876") {
		t.Fatalf("a derived handler did not take the new redactor: %s", buf.String())
	}
}
