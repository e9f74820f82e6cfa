package run

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/federate/redshift"
)

// The constructor, not its caller, adds WAREHOUSE_ROLE_ARN to a redshift:// URL and
// passes the lake's key and Region: the offline run gets it as the Lambda does.
func TestConstructorOpensWarehousesAsDeployed(t *testing.T) {
	env := map[string]string{deploy.EnvBucket: "lake", deploy.EnvBucketRegion: "eu-west-1", deploy.EnvKMSKeyID: "key",
		deploy.EnvWarehouseRoleArn: "arn:aws:iam::1:role/wh"}
	var url string
	var deps redshift.Deps
	open := func(_ context.Context, u string, d redshift.Deps) (redshift.Warehouse, error) {
		url, deps = u, d
		return nil, errors.New("stop")
	}
	h, err := newHandler(func(k string) string { return env[k] }, PublishClients{Warehouses: open}, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	_, _ = h.Open(context.Background(), "redshift://wg/dev")
	if url != "redshift://wg/dev?iam_role=arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fwh" || deps.KMSKeyID != "key" || deps.BucketRegion != "eu-west-1" {
		t.Fatalf("opened %q with %+v", url, deps)
	}
	for _, missing := range []string{deploy.EnvBucket, deploy.EnvBucketRegion} {
		env := map[string]string{deploy.EnvBucket: "lake", deploy.EnvBucketRegion: "eu-west-1"}
		delete(env, missing)
		_, err := NewSubscribe(func(k string) string { return env[k] }, SubscribeClients{}, slog.Default())
		var ee *deploy.EnvError
		if !errors.As(err, &ee) || ee.Var != missing {
			t.Errorf("without %s: %v, want a *deploy.EnvError naming it", missing, err)
		}
	}
}
