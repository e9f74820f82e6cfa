// Package awserr surfaces AWS throttling to Step Functions as one error name,
// ThrottledError, which the state machines retry with a long backoff after the SDK's
// own short retries are spent.
package awserr

import (
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
)

// ThrottledError says AWS throttled a call even after the SDK's retries. Lambda reports
// it as errorType "ThrottledError", the name the state machines' Retry blocks list.
type ThrottledError struct {
	Err error // the throttled call's error, with what was being done
}

func (e *ThrottledError) Error() string { return "throttled by AWS: " + e.Err.Error() }
func (e *ThrottledError) Unwrap() error { return e.Err }

// throttles is the SDK's own list of throttling error codes (Throttling, SlowDown,
// RequestLimitExceeded, TooManyRequestsException and ten more), so the list here can
// never fall behind the SDK's.
var throttles = retry.IsErrorThrottles(retry.DefaultThrottles)

// IsThrottle reports whether err, anywhere in its chain, is a throttling answer.
func IsThrottle(err error) bool {
	return err != nil && throttles.IsErrorThrottle(err) == aws.TrueTernary
}

// Surface returns err as a *ThrottledError when it is a throttling answer, else err
// unchanged. Every handler passes its error through Surface before returning it.
func Surface(err error) error {
	var te *ThrottledError
	if err == nil || errors.As(err, &te) || !IsThrottle(err) {
		return err
	}
	return &ThrottledError{Err: err}
}
