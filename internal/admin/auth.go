package admin

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"slices"
	"strings"

	"github.com/drover-dev/drover/internal/config"
)

// Auth guards the admin endpoint with the bearer token of admin.token_file:
// a request must carry "Authorization: Bearer <token>" unless its path is
// one the configuration leaves open (admin.unauthenticated). Without a
// token every request is allowed. Every handler of the endpoint, and those
// later added to it, goes through one Auth. The status page's shell and
// assets (pagePaths) hold no data and are always open: the page sends the
// token with every request for data.
type Auth struct {
	enabled bool
	sum     [sha256.Size]byte // of the token: compared in constant time, whatever its length
	open    []string
}

// NewAuth returns the guard that cfg describes.
func NewAuth(cfg config.Admin) *Auth {
	if cfg.Token == "" {
		return &Auth{}
	}
	return &Auth{enabled: true, sum: sha256.Sum256([]byte(cfg.Token)), open: slices.Clone(cfg.Unauthenticated)}
}

// Enabled reports whether requests need the token.
func (a *Auth) Enabled() bool { return a.enabled }

// Allows reports whether r may be served: no token is configured, r's path
// is open, or r carries the token.
func (a *Auth) Allows(r *http.Request) bool {
	if !a.enabled || slices.Contains(a.open, r.URL.Path) || slices.Contains(pagePaths, r.URL.Path) {
		return true
	}
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	return subtle.ConstantTimeCompare(sum[:], a.sum[:]) == 1
}

// Wrap returns h behind the guard: a request it does not allow is answered
// 401 with a WWW-Authenticate challenge, and h never sees it.
func (a *Auth) Wrap(h http.Handler) http.Handler {
	if !a.enabled {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !a.Allows(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="drover"`)
			http.Error(w, "unauthorized: this endpoint needs the admin token (Authorization: Bearer ...)", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}
