// Package secret keeps the secrets of a configuration out of what drover
// prints: logs, error messages and configuration dumps.
//
// The configuration loader records every secret value it decodes (see
// IsSecretName, and the file() function of the configuration language) in
// a Set; a Redactor built from it replaces each of them, wherever it
// appears in a text, with Mask. Handler applies a Redactor to every log
// record.
package secret

import (
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"sync"
)

// Mask replaces a secret in printed text.
const Mask = "[redacted]"

// MinLength is the length below which a value is not treated as a secret
// to search for: replacing every "ab" in the logs would destroy them and
// protect nothing.
const MinLength = 4

// secretNames are the attribute names, and the endings of attribute
// names, whose values are secrets.
var secretNames = []string{"password", "token", "secret", "api_key", "apikey", "secret_access_key", "session_token",
	"private_key", "credentials", "authorization", "x-api-key", "api-key", "x-auth-token", "cookie"}

// IsSecretName reports whether an attribute (or HTTP header) of that name
// holds a secret: password, token, api_key, secret_access_key,
// Authorization, X-Api-Key and the like, and names that end in one of
// them ("admin_token", "sasl_password").
func IsSecretName(name string) bool {
	n := strings.ToLower(name)
	for _, s := range secretNames {
		if n == s || strings.HasSuffix(n, "_"+s) || strings.HasSuffix(n, "-"+s) {
			return true
		}
	}
	return false
}

// Set collects secrets. The zero value is ready; it is safe for concurrent
// use.
type Set struct {
	mu   sync.Mutex
	vals []string
}

// Add records v (and, when v is a URL with a password, that password) as a
// secret. Values shorter than MinLength are ignored.
func (s *Set) Add(v string) {
	if s == nil {
		return
	}
	var add []string
	if len(v) >= MinLength {
		add = append(add, v)
	}
	if p := urlPassword(v); len(p) >= MinLength {
		add = append(add, p)
	}
	if len(add) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range add {
		if !slices.Contains(s.vals, a) {
			s.vals = append(s.vals, a)
		}
	}
}

// AddURLPassword records the password of v when v is a URL with one
// (https://user:password@host/): such a string is not a secret as a whole,
// but its password is.
func (s *Set) AddURLPassword(v string) {
	if p := urlPassword(v); len(p) >= MinLength {
		s.Add(p)
	}
}

// Values returns the secrets recorded so far.
func (s *Set) Values() []string {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.vals)
}

func urlPassword(v string) string {
	if !strings.Contains(v, "://") || !strings.Contains(v, "@") {
		return ""
	}
	u, err := url.Parse(v)
	if err != nil || u.User == nil {
		return ""
	}
	p, _ := u.User.Password()
	return p
}

// Redactor replaces secrets in text. A nil *Redactor changes nothing.
type Redactor struct {
	r *strings.Replacer
}

// NewRedactor returns a Redactor for the given secrets, or nil when there
// are none. Each secret is also replaced in its JSON-escaped form, so that
// a JSON rendering is redacted too.
func NewRedactor(secrets ...string) *Redactor {
	var pairs []string
	seen := map[string]bool{}
	add := func(v string) {
		if len(v) >= MinLength && !seen[v] {
			seen[v] = true
			pairs = append(pairs, v, Mask)
		}
	}
	// Longer secrets first, so that a secret that contains another is
	// replaced whole.
	sorted := slices.Clone(secrets)
	slices.SortFunc(sorted, func(a, b string) int { return len(b) - len(a) })
	for _, v := range sorted {
		add(v)
		if b, err := json.Marshal(v); err == nil {
			add(string(b[1 : len(b)-1]))
		}
	}
	if len(pairs) == 0 {
		return nil
	}
	return &Redactor{r: strings.NewReplacer(pairs...)}
}

// Redact returns s with every secret replaced by Mask.
func (r *Redactor) Redact(s string) string {
	if r == nil {
		return s
	}
	return r.r.Replace(s)
}
