// Command publish is the Federator's publish Lambda: its workflow calls it to list the
// items, to publish one, and to sum a run up (see internal/federaterun).
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/snaplake/snaplake/internal/awsconfig"
	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/federaterun"
	"github.com/snaplake/snaplake/internal/lambdamain"
)

func main() {
	lambdamain.Start(deploy.FnPublish, func(ctx context.Context, log *slog.Logger) (any, error) {
		cfg, err := awsconfig.Load(ctx)
		if err != nil {
			return nil, err
		}
		h, err := federaterun.HandlerFromEnv(os.Getenv, cfg, log)
		if err != nil {
			return nil, err
		}
		return h.Publish, nil
	})
}
