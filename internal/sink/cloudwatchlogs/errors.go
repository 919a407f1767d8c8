package cloudwatchlogs

import (
	"errors"
	"fmt"

	smithy "github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Error codes of CloudWatch Logs (and of AWS APIs in general) the sink
// tells apart.
const (
	codeNotFound        = "ResourceNotFoundException"
	codeAlreadyExists   = "ResourceAlreadyExistsException"
	codeAlreadyAccepted = "DataAlreadyAcceptedException"
)

// permanentCodes refuse a request for good: sending it again cannot help.
// ResourceNotFoundException is permanent only when the sink may not create
// what is missing (send.go handles it before asking here).
var permanentCodes = map[string]bool{
	"InvalidParameterException": true,
	"ValidationException":       true,
	codeNotFound:                true,
	"SerializationException":    true,
}

// transientCodes are failures that a later attempt can overcome.
var transientCodes = map[string]bool{
	"ThrottlingException":           true,
	"ServiceUnavailableException":   true,
	"InternalServerException":       true,
	"InternalFailure":               true,
	"OperationAbortedException":     true,
	"LimitExceededException":        true,
	"ServiceQuotaExceededException": true,
	"RequestTimeout":                true,
	"RequestTimeoutException":       true,
	"RequestExpired":                true,
	"TooManyRequestsException":      true,
	"InvalidSequenceTokenException": true,
}

// credentialCodes are refusals of the caller's identity. They are retried:
// credentials are renewed and policies fixed, and meanwhile the events wait
// (backpressure, or the disk buffer) instead of being discarded.
var credentialCodes = map[string]bool{
	"AccessDeniedException":               true,
	"UnrecognizedClientException":         true,
	"InvalidSignatureException":           true,
	"IncompleteSignatureException":        true,
	"MissingAuthenticationTokenException": true,
	"ExpiredTokenException":               true,
	"InvalidClientTokenId":                true,
	"SignatureDoesNotMatch":               true,
}

// errorCode returns the service's error code in err's chain, or "".
func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// isPermanent reports whether err refuses the request for good: a known
// refusal, or another answer with a 4xx status other than 408 and 429.
// Throttling, unavailability, server faults, refused credentials, network
// errors, timeouts and missing credentials are transient.
func isPermanent(err error) bool {
	code := errorCode(err)
	switch {
	case permanentCodes[code]:
		return true
	case transientCodes[code], credentialCodes[code]:
		return false
	}
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		s := re.HTTPStatusCode()
		return s >= 400 && s < 500 && s != 408 && s != 429
	}
	return false
}

// describe adds what an operator can do to err.
func describe(err error, t target) error {
	code := errorCode(err)
	switch {
	case credentialCodes[code]:
		return fmt.Errorf("%s: %w (check the AWS credentials and that their policy allows logs:PutLogEvents, logs:CreateLogStream and logs:CreateLogGroup on the group)", t, err)
	case code == "ThrottlingException":
		return fmt.Errorf("%s: %w (the account's PutLogEvents quota is exhausted; raise it with Service Quotas)", t, err)
	}
	return fmt.Errorf("%s: %w", t, err)
}
