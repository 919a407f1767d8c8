// Package cwltest is a CloudWatch Logs endpoint for tests: an HTTP server
// that speaks the service's JSON protocol (POST /, Content-Type
// application/x-amz-json-1.1, X-Amz-Target: Logs_20140328.<Operation>)
// for CreateLogGroup, CreateLogStream, PutLogEvents and DescribeLogGroups.
//
// It checks that requests carry a SigV4 signature (an Authorization header
// with AWS4-HMAC-SHA256 and X-Amz-Date; the signature itself is not
// verified), enforces the documented limits of PutLogEvents and answers
// with the documented errors:
//
//   - ResourceNotFoundException for a missing group or stream;
//   - InvalidParameterException for an empty request, more than 10,000
//     events, more than 1,048,576 bytes counting 26 per event, an empty or
//     too large message, events out of chronological order, or valid events
//     spanning more than 24 hours;
//   - events older than 14 days or more than 2 hours ahead of its clock are
//     rejected one by one in rejectedLogEventsInfo, the others stored.
//
// Failures can be injected per operation (Fail, FailNext), and the server
// counts calls to one stream that overlap in time.
package cwltest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// The service's limits, as the server enforces them.
const (
	MaxRequestBytes  = 1 << 20
	MaxRequestEvents = 10000
	EventOverhead    = 26
	MaxAge           = 14 * 24 * time.Hour
	MaxAhead         = 2 * time.Hour
	MaxSpan          = 24 * time.Hour
)

// Failure is an error answer.
type Failure struct {
	// Status is the HTTP status.
	Status int
	// Code is the error code, sent as __type and X-Amzn-Errortype.
	Code string
	// Message is the error's message.
	Message string
}

// Failures the service documents.
var (
	Throttling       = Failure{400, "ThrottlingException", "Rate exceeded"}
	Unavailable      = Failure{503, "ServiceUnavailableException", "The service cannot complete the request."}
	InvalidParameter = Failure{400, "InvalidParameterException", "A parameter is specified incorrectly."}
	AccessDenied     = Failure{400, "AccessDeniedException", "User is not authorized to perform logs:PutLogEvents"}
)

// Event is one stored log event.
type Event struct {
	// Timestamp is in milliseconds since the epoch.
	Timestamp int64 `json:"timestamp"`
	// Message is the log message.
	Message string `json:"message"`
}

// Server is a fake CloudWatch Logs endpoint. Its methods are safe for
// concurrent use.
type Server struct {
	// URL is the endpoint, for the sink's endpoint option.
	URL string

	srv *httptest.Server

	mu          sync.Mutex
	now         func() time.Time
	maxEvent    int
	delay       time.Duration
	groups      map[string]map[string][]Event
	calls       map[string]int
	failNext    map[string][]Failure
	fail        map[string]*Failure
	putFault    func(events []Event) *Failure
	active      map[string]int // PutLogEvents in progress per group/stream
	overlaps    int
	unsigned    int
	tokens      int
	invalid     []string
	putRequests []PutRequest
}

// PutRequest is one PutLogEvents call the server answered with success.
type PutRequest struct {
	// Group and Stream are the call's target.
	Group, Stream string
	// Events is the number of events of the call.
	Events int
	// Size is the request's size as the service counts it.
	Size int
}

// New starts a server and stops it when t ends.
func New(t testing.TB) *Server {
	s := &Server{
		now:      time.Now,
		maxEvent: MaxRequestBytes,
		groups:   map[string]map[string][]Event{},
		calls:    map[string]int{},
		failNext: map[string][]Failure{},
		fail:     map[string]*Failure{},
		active:   map[string]int{},
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.handle))
	s.URL = s.srv.URL
	t.Cleanup(s.srv.Close)
	return s
}

// Close stops the server; the test's end does it too.
func (s *Server) Close() { s.srv.Close() }

// SetCredentials sets static AWS credentials and a region in the
// environment of t, and keeps the SDK away from the machine's own
// configuration and from the instance metadata service.
func SetCredentials(t testing.TB) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

// Env returns the environment SetCredentials sets, for a child process.
func Env() []string {
	return []string{
		"AWS_ACCESS_KEY_ID=AKIDTEST", "AWS_SECRET_ACCESS_KEY=secret", "AWS_REGION=eu-west-1",
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_EC2_METADATA_DISABLED=true",
	}
}

// SetNow sets the service's clock.
func (s *Server) SetNow(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}

// SetMaxEventSize sets the largest event (message plus 26 bytes); the
// default is 1 MiB, the service's limit since 2025.
func (s *Server) SetMaxEventSize(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.maxEvent = n
}

// SetDelay makes every PutLogEvents take d, so that overlapping calls can
// be seen.
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// CreateGroup creates a log group.
func (s *Server) CreateGroup(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.groups[name] == nil {
		s.groups[name] = map[string][]Event{}
	}
}

// CreateStream creates a log stream (and its group).
func (s *Server) CreateStream(group, stream string) {
	s.CreateGroup(group)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.groups[group][stream]; !ok {
		s.groups[group][stream] = nil
	}
}

// Fail makes every call of op fail with f; nil ends it.
func (s *Server) Fail(op string, f *Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail[op] = f
}

// FailPut makes PutLogEvents calls fail with what f returns for their
// events (after the group and stream were found, before anything is
// stored); nil from f, or a nil f, lets the call through.
func (s *Server) FailPut(f func(events []Event) *Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.putFault = f
}

// FailNext makes the next n calls of op fail with f.
func (s *Server) FailNext(op string, n int, f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failNext[op] = append(s.failNext[op], f)
	}
}

// Events returns the events stored in a stream, in the order they were
// stored.
func (s *Server) Events(group, stream string) []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Event(nil), s.groups[group][stream]...)
}

// Groups returns the names of the log groups, sorted.
func (s *Server) Groups() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return sortedKeys(s.groups)
}

// Streams returns the names of the streams of a group, sorted.
func (s *Server) Streams(group string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.groups[group]))
	for k := range s.groups[group] {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Calls returns how many calls of op the server received.
func (s *Server) Calls(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

// PutRequests returns the successful PutLogEvents calls.
func (s *Server) PutRequests() []PutRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]PutRequest(nil), s.putRequests...)
}

// Violations returns what the server held against the sink's requests:
// InvalidParameterException answers it gave on its own (not injected),
// unsigned requests, requests with a sequence token, and overlapping calls
// to one stream.
func (s *Server) Violations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := append([]string(nil), s.invalid...)
	if s.unsigned > 0 {
		out = append(out, fmt.Sprintf("%d unsigned requests", s.unsigned))
	}
	if s.tokens > 0 {
		out = append(out, fmt.Sprintf("%d requests with a sequence token", s.tokens))
	}
	if s.overlaps > 0 {
		out = append(out, fmt.Sprintf("%d overlapping PutLogEvents calls to one stream", s.overlaps))
	}
	return out
}

var amzDate = regexp.MustCompile(`^\d{8}T\d{6}Z$`)

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "Logs_20140328.")
	if r.Method != http.MethodPost || r.URL.Path != "/" || !ok {
		writeError(w, Failure{400, "UnknownOperationException", "unknown operation " + r.Header.Get("X-Amz-Target")})
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
		writeError(w, Failure{400, "SerializationException", "unexpected Content-Type " + ct})
		return
	}
	auth := r.Header.Get("Authorization")
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=") || !strings.Contains(auth, "SignedHeaders=") ||
		!strings.Contains(auth, "Signature=") || !amzDate.MatchString(r.Header.Get("X-Amz-Date")) {
		s.mu.Lock()
		s.unsigned++
		s.mu.Unlock()
		writeError(w, Failure{400, "IncompleteSignatureException", "Authorization header requires a SigV4 signature and X-Amz-Date"})
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, Failure{400, "SerializationException", err.Error()})
		return
	}
	s.mu.Lock()
	s.calls[op]++
	var injected *Failure
	if q := s.failNext[op]; len(q) > 0 {
		injected = &q[0]
		s.failNext[op] = q[1:]
	} else if f := s.fail[op]; f != nil {
		injected = f
	}
	s.mu.Unlock()
	if injected != nil {
		writeError(w, *injected)
		return
	}
	switch op {
	case "CreateLogGroup":
		s.createLogGroup(w, body)
	case "CreateLogStream":
		s.createLogStream(w, body)
	case "DescribeLogGroups":
		s.describeLogGroups(w, body)
	case "PutLogEvents":
		s.putLogEvents(w, body)
	default:
		writeError(w, Failure{400, "UnknownOperationException", "unsupported operation " + op})
	}
}

func (s *Server) createLogGroup(w http.ResponseWriter, body []byte) {
	var in struct{ LogGroupName string }
	if !decode(w, body, &in) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.groups[in.LogGroupName]; ok {
		writeError(w, Failure{400, "ResourceAlreadyExistsException", "The specified log group already exists"})
		return
	}
	s.groups[in.LogGroupName] = map[string][]Event{}
	writeJSON(w, struct{}{})
}

func (s *Server) createLogStream(w http.ResponseWriter, body []byte) {
	var in struct{ LogGroupName, LogStreamName string }
	if !decode(w, body, &in) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.groups[in.LogGroupName]
	switch {
	case !ok:
		writeError(w, Failure{400, "ResourceNotFoundException", "The specified log group does not exist."})
		return
	case in.LogStreamName == "" || strings.ContainsAny(in.LogStreamName, ":*"):
		s.invalid = append(s.invalid, "invalid stream name "+in.LogStreamName)
		writeError(w, Failure{400, "InvalidParameterException", "invalid log stream name"})
		return
	}
	if _, ok := g[in.LogStreamName]; ok {
		writeError(w, Failure{400, "ResourceAlreadyExistsException", "The specified log stream already exists"})
		return
	}
	g[in.LogStreamName] = nil
	writeJSON(w, struct{}{})
}

func (s *Server) describeLogGroups(w http.ResponseWriter, body []byte) {
	var in struct {
		LogGroupNamePrefix string
		Limit              int
	}
	if !decode(w, body, &in) {
		return
	}
	s.mu.Lock()
	names := sortedKeys(s.groups)
	s.mu.Unlock()
	type group struct {
		LogGroupName string `json:"logGroupName"`
		Arn          string `json:"arn"`
	}
	var out struct {
		LogGroups []group `json:"logGroups"`
	}
	out.LogGroups = []group{}
	for _, n := range names {
		if strings.HasPrefix(n, in.LogGroupNamePrefix) && (in.Limit == 0 || len(out.LogGroups) < in.Limit) {
			out.LogGroups = append(out.LogGroups, group{n, "arn:aws:logs:eu-west-1:123456789012:log-group:" + n + ":*"})
		}
	}
	writeJSON(w, out)
}

// putInput is the body of a PutLogEvents request.
type putInput struct {
	LogGroupName  string  `json:"logGroupName"`
	LogStreamName string  `json:"logStreamName"`
	LogEvents     []Event `json:"logEvents"`
	SequenceToken *string `json:"sequenceToken"`
}

func (s *Server) putLogEvents(w http.ResponseWriter, body []byte) {
	var in putInput
	if !decode(w, body, &in) {
		return
	}
	key := in.LogGroupName + "\x00" + in.LogStreamName
	s.mu.Lock()
	if in.SequenceToken != nil {
		s.tokens++
	}
	s.active[key]++
	if s.active[key] > 1 {
		s.overlaps++
	}
	delay := s.delay
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.active[key]--
		s.mu.Unlock()
	}()
	if delay > 0 {
		time.Sleep(delay)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.groups[in.LogGroupName]
	if !ok {
		writeError(w, Failure{400, "ResourceNotFoundException", "The specified log group does not exist."})
		return
	}
	if _, ok := g[in.LogStreamName]; !ok {
		writeError(w, Failure{400, "ResourceNotFoundException", "The specified log stream does not exist."})
		return
	}
	if s.putFault != nil {
		if f := s.putFault(in.LogEvents); f != nil {
			writeError(w, *f)
			return
		}
	}
	if msg := s.check(&in); msg != "" {
		s.invalid = append(s.invalid, msg)
		writeError(w, Failure{400, "InvalidParameterException", msg})
		return
	}
	now := s.now()
	oldest, newest := now.Add(-MaxAge).UnixMilli(), now.Add(MaxAhead).UnixMilli()
	tooOldEnd, tooNewStart := 0, len(in.LogEvents)
	for i, e := range in.LogEvents {
		if e.Timestamp < oldest {
			tooOldEnd = i + 1
		}
		if e.Timestamp > newest && tooNewStart == len(in.LogEvents) {
			tooNewStart = i
		}
	}
	valid := in.LogEvents[tooOldEnd:tooNewStart]
	if len(valid) > 0 && valid[len(valid)-1].Timestamp-valid[0].Timestamp > MaxSpan.Milliseconds() {
		msg := "The batch of log events in a single PutLogEvents request cannot span more than 24 hours."
		s.invalid = append(s.invalid, msg)
		writeError(w, Failure{400, "InvalidParameterException", msg})
		return
	}
	g[in.LogStreamName] = append(g[in.LogStreamName], valid...)
	size := 0
	for _, e := range in.LogEvents {
		size += len(e.Message) + EventOverhead
	}
	s.putRequests = append(s.putRequests, PutRequest{Group: in.LogGroupName, Stream: in.LogStreamName, Events: len(in.LogEvents), Size: size})
	type rejected struct {
		TooOldLogEventEndIndex   *int `json:"tooOldLogEventEndIndex,omitempty"`
		TooNewLogEventStartIndex *int `json:"tooNewLogEventStartIndex,omitempty"`
	}
	var out struct {
		RejectedLogEventsInfo *rejected `json:"rejectedLogEventsInfo,omitempty"`
	}
	if tooOldEnd > 0 || tooNewStart < len(in.LogEvents) {
		out.RejectedLogEventsInfo = &rejected{}
		if tooOldEnd > 0 {
			out.RejectedLogEventsInfo.TooOldLogEventEndIndex = &tooOldEnd
		}
		if tooNewStart < len(in.LogEvents) {
			out.RejectedLogEventsInfo.TooNewLogEventStartIndex = &tooNewStart
		}
	}
	writeJSON(w, out)
}

// check returns why the service refuses the request as a whole, or "".
func (s *Server) check(in *putInput) string {
	n := len(in.LogEvents)
	switch {
	case n == 0:
		return "1 validation error detected: Value at 'logEvents' failed to satisfy constraint: Member must have length greater than or equal to 1"
	case n > MaxRequestEvents:
		return fmt.Sprintf("1 validation error detected: Value at 'logEvents' failed to satisfy constraint: Member must have length less than or equal to %d", MaxRequestEvents)
	}
	size := 0
	for i, e := range in.LogEvents {
		if e.Message == "" {
			return fmt.Sprintf("1 validation error detected: Value '' at 'logEvents.%d.member.message' failed to satisfy constraint: Member must have length greater than or equal to 1", i+1)
		}
		if len(e.Message)+EventOverhead > s.maxEvent {
			return fmt.Sprintf("Log event too large: %d bytes exceeds limit of %d", len(e.Message)+EventOverhead, s.maxEvent)
		}
		if i > 0 && e.Timestamp < in.LogEvents[i-1].Timestamp {
			return "Log events in a single PutLogEvents request must be in chronological order."
		}
		size += len(e.Message) + EventOverhead
	}
	if size > MaxRequestBytes {
		return fmt.Sprintf("Upload too large: %d bytes exceeds limit of %d", size, MaxRequestBytes)
	}
	return ""
}

func decode(w http.ResponseWriter, body []byte, v any) bool {
	if err := json.Unmarshal(body, v); err != nil {
		writeError(w, Failure{400, "SerializationException", err.Error()})
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Requestid", "00000000-0000-0000-0000-000000000000")
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, f Failure) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Errortype", f.Code)
	w.Header().Set("X-Amzn-Requestid", "00000000-0000-0000-0000-000000000000")
	w.WriteHeader(f.Status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": f.Code, "message": f.Message})
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
