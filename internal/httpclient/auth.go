package httpclient

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/drover-dev/drover/internal/config"
)

// secretCheckInterval is how often a secret file is looked at for a
// change, at most.
var secretCheckInterval = time.Second

// maxSecretBytes bounds a secret file: a token is a few KiB at most.
const maxSecretBytes = 64 << 10

// fileAuth is an Authorization header built from a secret that a file
// holds, read again when the file changes. It is safe for concurrent use.
type fileAuth struct {
	strategy, user, path, field string

	mu      sync.Mutex
	value   string    // the Authorization header
	checked time.Time // when the file was last looked at
	stat    os.FileInfo
}

// newFileAuth returns the file-based authentication of a, or nil when a
// takes its secret from the configuration. The file is read at once: an
// error names the attribute.
func newFileAuth(a *AuthConfig) (*fileAuth, error) {
	if a == nil || !a.fromFile() {
		return nil, nil
	}
	f := &fileAuth{strategy: a.Strategy, user: a.User}
	switch {
	case a.TokenFile != "":
		f.path, f.field = a.TokenFile, "auth.token_file"
	case a.PasswordFile != "":
		f.path, f.field = a.PasswordFile, "auth.password_file"
	default:
		f.path, f.field = a.APIKeyFile, "auth.api_key_file"
	}
	if err := f.load(time.Now()); err != nil {
		return nil, config.Errorf(f.field, "%v", err)
	}
	return f, nil
}

// load reads the file when it changed since it was last read.
func (f *fileAuth) load(now time.Time) error {
	f.checked = now
	st, err := os.Stat(f.path)
	if err != nil {
		return fmt.Errorf("reading the secret: %w", err)
	}
	if f.stat != nil && os.SameFile(st, f.stat) && st.ModTime().Equal(f.stat.ModTime()) && st.Size() == f.stat.Size() {
		return nil
	}
	raw, err := readLimited(f.path)
	if err != nil {
		return err
	}
	secret := string(bytes.TrimSpace(raw))
	if secret == "" {
		return fmt.Errorf("the secret file %s is empty", f.path)
	}
	if bytes.ContainsAny([]byte(secret), "\r\n\x00") {
		return fmt.Errorf("the secret file %s holds a line break or NUL inside the secret", f.path)
	}
	switch f.strategy {
	case AuthBasic:
		r := http.Request{Header: http.Header{}}
		r.SetBasicAuth(f.user, secret)
		f.value = r.Header.Get("Authorization")
	case AuthBearer:
		f.value = "Bearer " + secret
	default:
		f.value = "ApiKey " + secret
	}
	f.stat = st
	return nil
}

func readLimited(path string) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading the secret: %w", err)
	}
	defer fh.Close()
	buf, err := io.ReadAll(io.LimitReader(fh, maxSecretBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading the secret: %w", err)
	}
	if len(buf) > maxSecretBytes {
		return nil, fmt.Errorf("the secret file %s is larger than %d bytes", path, maxSecretBytes)
	}
	return buf, nil
}

// header returns the Authorization header of the file's current secret.
// A file that cannot be read keeps the last secret read: a rotation that
// replaces the file is not a reason to stop sending.
func (f *fileAuth) header() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if now := time.Now(); now.Sub(f.checked) >= secretCheckInterval {
		_ = f.load(now)
	}
	return f.value
}
