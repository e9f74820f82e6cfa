// Package lambdamain is what every snaplake Lambda's main does: a JSON logger that names
// the function, then the handler that build makes, served by the Lambda runtime. A handler
// that cannot be built (bad configuration, no AWS configuration) is logged and the process
// exits 1, which Lambda reports as an init error.
package lambdamain

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/snaplake/snaplake/internal/deploy"
)

// Start builds the handler and serves it; it does not return.
func Start(function string, build func(ctx context.Context, log *slog.Logger) (Func, error)) {
	log, err := NewLogger(os.Stdout, os.Getenv, function)
	if err != nil {
		// Still log the failure as JSON, at the default level, so it reaches the
		// function's log group like any other line.
		slog.New(slog.NewJSONHandler(os.Stdout, nil)).With("function", function).Error("cannot start", "error", err)
		os.Exit(1)
	}
	h, err := build(context.Background(), log)
	if err != nil {
		log.Error("cannot start", "error", err)
		os.Exit(1)
	}
	lambda.Start(h)
}

// LogLevelError is a deploy.EnvLogLevel that is not a log level.
type LogLevelError struct {
	Value string
	Err   error
}

func (e *LogLevelError) Error() string {
	return fmt.Sprintf("environment variable %s=%q is not a log level (DEBUG, INFO, WARN or ERROR): %v", deploy.EnvLogLevel, e.Value, e.Err)
}

func (e *LogLevelError) Unwrap() error { return e.Err }

// NewLogger is the function's JSON logger, at the level deploy.EnvLogLevel names
// (INFO when unset), so an operator can turn on debug logs by changing the variable
// without a new build. Lambda's own application log level filter drops lines below
// its level too (the stack sets both to deploy.DefaultLogLevel).
func NewLogger(w io.Writer, getenv func(string) string, function string) (*slog.Logger, error) {
	var level slog.Level // INFO
	if v := getenv(deploy.EnvLogLevel); v != "" {
		if err := level.UnmarshalText([]byte(v)); err != nil {
			return nil, &LogLevelError{Value: v, Err: err}
		}
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})).With("function", function), nil
}
