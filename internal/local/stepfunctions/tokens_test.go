package stepfunctions

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
)

// The narrow interface production code declares; Tokens must satisfy it.
var _ interface {
	SendTaskSuccess(context.Context, *sfn.SendTaskSuccessInput, ...func(*sfn.Options)) (*sfn.SendTaskSuccessOutput, error)
	SendTaskFailure(context.Context, *sfn.SendTaskFailureInput, ...func(*sfn.Options)) (*sfn.SendTaskFailureOutput, error)
} = (*Tokens)(nil)

func TestTokensErrors(t *testing.T) {
	ctx := context.Background()
	known := "AAAAKgAAAAIAAAAA" + strings.Repeat("k", 64)
	finished := "AAAAKgAAAAIAAAAA" + strings.Repeat("f", 64)
	tokens := NewTokens()
	if _, err := tokens.register(known, "exec", "Await"); err != nil {
		t.Fatal(err)
	}
	if _, err := tokens.register(finished, "exec", "Await"); err != nil {
		t.Fatal(err)
	}
	tokens.drop(finished, "timed out")

	tests := []struct {
		name    string
		token   string
		output  string
		failure bool
		want    any
	}{
		{"garbage token", "not a token!", `{}`, false, &sfntypes.InvalidToken{}},
		{"empty token", "", `{}`, false, &sfntypes.InvalidToken{}},
		{"unknown token", "AAAAKgAAAAIAAAAA" + strings.Repeat("u", 64), `{}`, false, &sfntypes.TaskDoesNotExist{}},
		{"unknown token, failure", "AAAAKgAAAAIAAAAA" + strings.Repeat("u", 64), "", true, &sfntypes.TaskDoesNotExist{}},
		{"timed out token", finished, `{}`, false, &sfntypes.TaskTimedOut{}},
		{"output not JSON", known, `{"a":`, false, &sfntypes.InvalidOutput{}},
		{"output too large", known, `"` + strings.Repeat("x", maxOutputBytes) + `"`, false, &sfntypes.InvalidOutput{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.failure {
				_, err = tokens.SendTaskFailure(ctx, &sfn.SendTaskFailureInput{TaskToken: aws.String(tt.token), Error: aws.String("E")})
			} else {
				_, err = tokens.SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{TaskToken: aws.String(tt.token), Output: aws.String(tt.output)})
			}
			if err == nil {
				t.Fatal("no error")
			}
			if fmt.Sprintf("%T", err) != fmt.Sprintf("%T", tt.want) {
				t.Fatalf("error %T (%v), want %T", err, err, tt.want)
			}
		})
	}

	// The known token survived the rejected calls; the second success is late.
	if got := tokens.Waiting(); len(got) != 1 || got[0] != known {
		t.Fatalf("Waiting() = %v, want [%s]", got, known)
	}
	if _, err := tokens.SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{TaskToken: aws.String(known), Output: aws.String(`{"ok":true}`)}); err != nil {
		t.Fatalf("first success: %v", err)
	}
	_, err := tokens.SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{TaskToken: aws.String(known), Output: aws.String(`{}`)})
	var late *sfntypes.TaskTimedOut
	if !errors.As(err, &late) {
		t.Fatalf("second success: %v, want TaskTimedOut", err)
	}
	if got := tokens.Waiting(); len(got) != 0 {
		t.Fatalf("Waiting() = %v, want none", got)
	}
}

type InvalidEventError struct{ Field string }

func (e *InvalidEventError) Error() string { return "invalid event: " + e.Field }

type valueError struct{}

func (valueError) Error() string { return "value" }

func TestLambdaError(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		wantName  string
		wantCause string
	}{
		{"errors.New", errors.New("boom"), "errorString", `{"errorMessage":"boom","errorType":"errorString"}`},
		{"pointer type", &InvalidEventError{Field: "detail"}, "InvalidEventError", `{"errorMessage":"invalid event: detail","errorType":"InvalidEventError"}`},
		{"value type", valueError{}, "valueError", `{"errorMessage":"value","errorType":"valueError"}`},
		{"wrapped: Lambda does not unwrap", fmt.Errorf("start export: %w", &InvalidEventError{Field: "x"}), "wrapError", `{"errorMessage":"start export: invalid event: x","errorType":"wrapError"}`},
		{"lambda's own payload", messages.InvokeResponse_Error{Message: "timed out", Type: "Runtime.ExitError"}, "Runtime.ExitError", `{"errorMessage":"timed out","errorType":"Runtime.ExitError"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := LambdaError(tt.err)
			if got.Name != tt.wantName || got.Cause != tt.wantCause {
				t.Fatalf("LambdaError = {%q, %q}, want {%q, %q}", got.Name, got.Cause, tt.wantName, tt.wantCause)
			}
		})
	}
	if LambdaError(nil) != nil {
		t.Fatal("LambdaError(nil) != nil")
	}
}

func TestValidateName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"nightly-2026-11-20", true},
		{strings.Repeat("a", 80), true},
		{"4f1c2d3e-0000-1111-2222-333344445555_snaplake-export-target-0123456789abcdef", true}, // EventBridge style, 73 chars
		{"", false},
		{strings.Repeat("a", 81), false},
		{"has space", false},
		{"a/b", false},
		{"a:b", false},
		{"a*b", false},
		{"tab\there", false},
		{"bell\x07", false},
		{"c1\u0085", false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%.20q", tt.name), func(t *testing.T) {
			err := validateName(tt.name)
			var invalid *sfntypes.InvalidName
			if tt.ok && err != nil {
				t.Fatalf("rejected: %v", err)
			}
			if !tt.ok && !errors.As(err, &invalid) {
				t.Fatalf("error %v, want InvalidName", err)
			}
		})
	}
}
