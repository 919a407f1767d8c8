package cloudwatchlogs

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	smithy "github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/drover-dev/drover/internal/sink/retry"
)

// apiError is an error of the service as the SDK returns it: an API error
// inside the HTTP response error.
func apiError(status int, code string) error {
	return &smithy.OperationError{ServiceID: "CloudWatch Logs", OperationName: "PutLogEvents",
		Err: &smithyhttp.ResponseError{
			Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
			Err:      &smithy.GenericAPIError{Code: code, Message: "message of " + code},
		}}
}

func TestClassify(t *testing.T) {
	cases := []struct {
		err    error
		class  retry.Class
		reason string
	}{
		{apiError(400, "ThrottlingException"), retry.ClassTransient, "throttled"},
		{apiError(503, "ServiceUnavailableException"), retry.ClassTransient, "server_error"},
		{apiError(400, "AccessDeniedException"), retry.ClassTransient, "forbidden"},
		{apiError(400, "ExpiredTokenException"), retry.ClassTransient, "unauthorized"},
		{apiError(403, "InvalidSignatureException"), retry.ClassTransient, "unauthorized"},
		{apiError(400, "ResourceNotFoundException"), retry.ClassTransient, "not_found"},
		{apiError(400, "InvalidParameterException"), retry.ClassSplit, ReasonInvalid},
		{apiError(400, "ValidationException"), retry.ClassSplit, ReasonInvalid},
		{apiError(413, "RequestEntityTooLarge"), retry.ClassSplit, "too_large"},
		{apiError(400, "SomethingNewException"), retry.ClassSplit, "bad_request"},
		{apiError(409, "SomethingNewException"), retry.ClassTransient, "refused"},
		{apiError(500, "InternalFailure"), retry.ClassTransient, "server_error"},
		{fmt.Errorf("put: %w", context.DeadlineExceeded), retry.ClassTransient, "timeout"},
		{errors.New("no credentials"), retry.ClassTransient, "send_failed"},
	}
	for _, c := range cases {
		if class, reason := classify(c.err); class != c.class || reason != c.reason {
			t.Errorf("classify(%v) = %v %s, want %v %s", c.err, class, reason, c.class, c.reason)
		}
	}
}
