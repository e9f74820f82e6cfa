package run

import (
	"errors"
	"log/slog"
	"testing"

	"github.com/snaplake/snaplake/internal/deploy"
)

// applygrants reads its account and partition once, with the rest of its
// environment, and names the one that is missing.
func TestNewApplyGrantsNamesTheMissingVariable(t *testing.T) {
	for _, missing := range []string{deploy.EnvBucket, deploy.EnvIngestDatabase, deploy.EnvAccountID, deploy.EnvPartition} {
		env := map[string]string{deploy.EnvBucket: "lake", deploy.EnvIngestDatabase: "shop", deploy.EnvAccountID: "1", deploy.EnvPartition: "aws"}
		delete(env, missing)
		_, err := NewApplyGrants(func(k string) string { return env[k] }, ApplyGrantsClients{}, slog.Default())
		var ee *deploy.EnvError
		if !errors.As(err, &ee) || ee.Var != missing {
			t.Errorf("without %s: %v, want a *deploy.EnvError naming it", missing, err)
		}
	}
}
