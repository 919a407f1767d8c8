package cloudwatchlogs

import (
	"errors"
	"fmt"

	smithy "github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/drover-dev/drover/internal/sink/retry"
)

// Error codes of CloudWatch Logs (and of AWS APIs in general) the sink
// tells apart.
const (
	codeNotFound        = "ResourceNotFoundException"
	codeAlreadyExists   = "ResourceAlreadyExistsException"
	codeAlreadyAccepted = "DataAlreadyAcceptedException"
)

// invalidCodes refuse a call as a whole for something in it (a value the
// service does not take): the call is sent again in halves, down to single
// events, which are rejected. ResourceNotFoundException is not among them:
// a missing group or stream is created when allowed (send.go) and waited
// for otherwise, like any refusal that is not the data's fault.
var invalidCodes = map[string]bool{
	"InvalidParameterException": true,
	"ValidationException":       true,
	"SerializationException":    true,
}

// transientCodes are failures that a later attempt can overcome.
var transientCodes = map[string]string{
	"ThrottlingException":           retry.ReasonThrottled,
	"ServiceUnavailableException":   retry.ReasonServerError,
	"InternalServerException":       retry.ReasonServerError,
	"InternalFailure":               retry.ReasonServerError,
	"OperationAbortedException":     retry.ReasonServerError,
	"LimitExceededException":        retry.ReasonThrottled,
	"ServiceQuotaExceededException": retry.ReasonThrottled,
	"RequestTimeout":                retry.ReasonTimeout,
	"RequestTimeoutException":       retry.ReasonTimeout,
	"RequestExpired":                retry.ReasonTimeout,
	"TooManyRequestsException":      retry.ReasonThrottled,
	"InvalidSequenceTokenException": retry.ReasonServerError,
	codeNotFound:                    retry.ReasonNotFound,
}

// credentialCodes are refusals of the caller's identity. They are retried:
// credentials are renewed and policies fixed, and meanwhile the events wait
// (backpressure, or the disk buffer) instead of being discarded.
var credentialCodes = map[string]string{
	"AccessDeniedException":               retry.ReasonForbidden,
	"UnrecognizedClientException":         retry.ReasonUnauthorized,
	"InvalidSignatureException":           retry.ReasonUnauthorized,
	"IncompleteSignatureException":        retry.ReasonUnauthorized,
	"MissingAuthenticationTokenException": retry.ReasonUnauthorized,
	"ExpiredTokenException":               retry.ReasonUnauthorized,
	"InvalidClientTokenId":                retry.ReasonUnauthorized,
	"SignatureDoesNotMatch":               retry.ReasonUnauthorized,
}

// errorCode returns the service's error code in err's chain, or "".
func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// ReasonInvalid is the discard reason of an event the service refuses
// alone with InvalidParameterException (or ValidationException).
const ReasonInvalid = "invalid_parameter"

// classify applies the delivery policy to a failed call: a known refusal
// of a value splits the call (reason "invalid_parameter"); throttling,
// unavailability, server faults, refused credentials, missing groups and
// streams, network errors and timeouts are transient with their reason;
// another answer follows its HTTP status (retry.HTTPStatus: 413 and 400
// split, any other status is transient).
func classify(err error) (retry.Class, string) {
	code := errorCode(err)
	if invalidCodes[code] {
		return retry.ClassSplit, ReasonInvalid
	}
	if r, ok := transientCodes[code]; ok {
		return retry.ClassTransient, r
	}
	if r, ok := credentialCodes[code]; ok {
		return retry.ClassTransient, r
	}
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return retry.HTTPStatus(re.HTTPStatusCode())
	}
	return retry.Classify(err)
}

// describe adds what an operator can do to err.
func describe(err error, t target) error {
	code := errorCode(err)
	switch {
	case credentialCodes[code] != "":
		return fmt.Errorf("%s: %w (check the AWS credentials and that their policy allows logs:PutLogEvents, logs:CreateLogStream and logs:CreateLogGroup on the group)", t, err)
	case code == "ThrottlingException":
		return fmt.Errorf("%s: %w (the account's PutLogEvents quota is exhausted; raise it with Service Quotas)", t, err)
	}
	return fmt.Errorf("%s: %w", t, err)
}
