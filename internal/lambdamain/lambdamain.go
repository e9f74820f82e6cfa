// Package lambdamain is what every snaplake Lambda's main does: a JSON logger that names
// the function, then the handler that build makes, served by the Lambda runtime. A handler
// that cannot be built (bad configuration, no AWS configuration) is logged and the process
// exits 1, which Lambda reports as an init error.
package lambdamain

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
)

// Start builds the handler and serves it; it does not return.
func Start(function string, build func(ctx context.Context, log *slog.Logger) (handler any, err error)) {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil)).With("function", function)
	h, err := build(context.Background(), log)
	if err != nil {
		log.Error("cannot start", "error", err)
		os.Exit(1)
	}
	lambda.Start(h)
}
