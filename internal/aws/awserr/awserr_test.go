package awserr

import (
	"errors"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"
)

func TestSurfaceKnowsEveryThrottleCodeOfTheSDK(t *testing.T) {
	if len(retry.DefaultThrottleErrorCodes) < 14 {
		t.Fatalf("the SDK lists %d throttle codes; expected at least 14", len(retry.DefaultThrottleErrorCodes))
	}
	for code := range retry.DefaultThrottleErrorCodes {
		err := fmt.Errorf("copy a to b: %w", &smithy.GenericAPIError{Code: code, Message: "slow down"})
		got := Surface(err)
		var te *ThrottledError
		if !errors.As(got, &te) {
			t.Errorf("code %s: Surface returned %T, want *ThrottledError", code, got)
		}
		if !errors.Is(got, err) {
			t.Errorf("code %s: the original error is not in the chain", code)
		}
	}
}

func TestSurfaceLeavesOtherErrorsAlone(t *testing.T) {
	for _, err := range []error{
		nil,
		errors.New("plain"),
		&smithy.GenericAPIError{Code: "AccessDenied", Message: "no"},
		&smithy.GenericAPIError{Code: "NoSuchKey"},
	} {
		if got := Surface(err); got != err {
			t.Errorf("Surface(%v) = %v, want it unchanged", err, got)
		}
	}
	te := &ThrottledError{Err: errors.New("x")}
	if got := Surface(te); got != te {
		t.Errorf("Surface wrapped a ThrottledError twice")
	}
}
