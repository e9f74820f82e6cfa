package offline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/snaplake/snaplake/internal/config"
	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/federate"
	"github.com/snaplake/snaplake/internal/federate/redshift"
	"github.com/snaplake/snaplake/internal/local/contract"
	"github.com/snaplake/snaplake/internal/local/iam"
	"github.com/snaplake/snaplake/internal/local/postgres"
	"github.com/snaplake/snaplake/internal/local/postgres/postgrestest"
	"github.com/snaplake/snaplake/internal/local/s3server"
	"github.com/snaplake/snaplake/internal/local/stepfunctions"
)

// TestFederatorAsDeployed runs both Federator workflows as the stack deploys them:
// each function as its role, every Data API call authorized on the warehouse it
// stands in for, UNLOAD and COPY reaching S3 as the warehouse role, the executions
// started as the scheduler's role. Then, without the warehouse role's S3 statements,
// the same publish is refused.
func TestFederatorAsDeployed(t *testing.T) {
	t.Parallel() // its own PostgreSQL and S3 servers; it mostly waits on statements
	ctx := context.Background()
	pg, c, srv := startFederatorServers(t, "transform", "reporting")
	seed, err := redshift.Open(ctx, pg.DSN("transform"), redshift.Deps{S3: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	if err := seed.Exec(ctx, "CREATE SCHEMA sales", "CREATE TABLE sales.dim (id INTEGER NOT NULL, name TEXT)",
		"INSERT INTO sales.dim SELECT g, 'n' || g FROM generate_series(1, 50) g"); err != nil {
		t.Fatal(err)
	}
	seed.Close()
	cfg := fmt.Sprintf("federate:\n  publisher: %s\n  statementPoll: 1s\n  tables:\n    - {table: sales.dim}\n  subscribers:\n    - {name: reporting, redshift: %q}\n", pg.DSN("transform"), pg.DSN("reporting"))
	if _, err := srv.Client().PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(c.Bucket), Key: aws.String(config.S3Key), Body: strings.NewReader(cfg)}); err != nil {
		t.Fatal(err)
	}
	signInAsRole := map[string]bool{pg.DSN("transform"): true}
	var notes []Notification // of the last run
	warehouses := map[string]string{
		pg.DSN("transform"): "arn:aws:redshift-serverless:us-east-1:000000000000:workgroup/00000000-0000-4000-8000-000000000001",
		// In another Region than the stack's lake bucket (contract.Context).
		pg.DSN("reporting"): "arn:aws:redshift:eu-west-1:000000000000:cluster:reporting",
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	base, err := NewAuthority(c)
	if err != nil {
		t.Fatal(err)
	}
	runDeployed := func(deployed *contract.Contract, auth *iam.Authority, workflow string, at time.Time) (stepfunctions.Result, *Account) {
		t.Helper()
		acct, err := NewAccount(srv, AccountOptions{Contract: deployed, IAM: auth, Log: log})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(acct.Close)
		f, err := NewFederate(FederateConfig{Account: acct, Warehouses: warehouses, SignInAsRole: signInAsRole, RetryInterval: 50 * time.Millisecond, Log: log})
		if err != nil {
			t.Fatal(err)
		}
		res, err := f.Run(ctx, workflow, at)
		if err != nil {
			t.Fatal(err)
		}
		notes = f.Notifications()
		return res, acct
	}
	run := func(auth *iam.Authority, workflow string, at time.Time) (stepfunctions.Result, *Account) {
		t.Helper()
		return runDeployed(c, auth, workflow, at)
	}
	at := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	// The transform workgroup is signed into as the functions' IAM identity: the
	// publish function is the database user IAMR:<its role name>, without
	// privileges until the README's grants are given.
	refused, _ := run(nil, deploy.FnPublish, at)
	if refused.Status == stepfunctions.StatusSucceeded || !strings.Contains(refused.Cause+refused.Error, "tables failed") {
		t.Fatalf("publish by a database user without grants: %s %s %s", refused.Status, refused.Error, refused.Cause)
	}
	if len(notes) != 1 || !strings.Contains(notes[0].Message, "permission denied for schema sales") {
		t.Fatalf("publish by a database user without grants notified %+v, want the missing USAGE on schema sales", notes)
	}
	var users map[string]string
	if err := json.Unmarshal([]byte(c.Outputs[deploy.OutputFederateDatabaseUsers]), &users); err != nil {
		t.Fatal(err)
	}
	admin, err := redshift.Open(ctx, pg.DSN("transform"), redshift.Deps{S3: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if err := admin.Exec(ctx, federate.GrantSQL(federate.PublisherNeeds(federate.Config{Tables: []federate.Table{{Table: "sales.dim"}}}), "transform", users[deploy.FnPublish])...); err != nil {
		t.Fatal(err)
	}
	at = at.Add(time.Minute)
	pub, acct := run(nil, deploy.FnPublish, at)
	if pub.Status != stepfunctions.StatusSucceeded {
		t.Fatalf("publish: %s %s %s", pub.Status, pub.Error, pub.Cause)
	}
	// An unchanged table costs its state, its columns and its newest manifest (a
	// definition change alone is a change): the publish function may read them.
	at = at.Add(30 * time.Second)
	again, acctAgain := run(nil, deploy.FnPublish, at)
	if again.Status != stepfunctions.StatusSucceeded || len(acctAgain.IAM.Denied()) > 0 {
		t.Fatalf("publish of an unchanged table: %s %s %s, denied %+v", again.Status, again.Error, again.Cause, acctAgain.IAM.Denied())
	}
	// Positive control of REGION: the reporting cluster is in eu-west-1, the lake
	// bucket in the stack's Region. Deployed without the bucket's Region (as before
	// the first-deploy review's F5), its COPY has no REGION and fails as Redshift's
	// does; as deployed, it names the bucket's Region and loads (below).
	if region := c.Functions[deploy.FnSubscribe].Environment[deploy.EnvBucketRegion]; region != c.Region {
		t.Errorf("the subscribe function's %s is %q, want the stack's Region %q", deploy.EnvBucketRegion, region, c.Region)
	}
	// Without the variable the function does not start, as its Lambda's init fails
	// (its constructor requires it).
	noRegionAcct, err := NewAccount(srv, AccountOptions{Contract: withoutEnv(c, deploy.FnSubscribe, deploy.EnvBucketRegion), Log: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(noRegionAcct.Close)
	var envErr *deploy.EnvError
	if _, err := NewFederate(FederateConfig{Account: noRegionAcct, Warehouses: warehouses, Log: log}); !errors.As(err, &envErr) || envErr.Var != deploy.EnvBucketRegion {
		t.Fatalf("subscribe deployed without %s: %v, want its constructor's *deploy.EnvError", deploy.EnvBucketRegion, err)
	}
	// With REGION naming the warehouse's Region instead of the bucket's, the COPY
	// fails as Redshift's does.
	wrongRegion := withoutEnv(c, deploy.FnSubscribe, "")
	wrongRegion.Functions[deploy.FnSubscribe].Environment[deploy.EnvBucketRegion] = "eu-west-1"
	noRegion, _ := runDeployed(wrongRegion, nil, deploy.FnSubscribe, at.Add(30*time.Second))
	if noRegion.Status == stepfunctions.StatusSucceeded || len(notes) != 1 ||
		!strings.Contains(notes[0].Message, "The bucket you are attempting to access must be addressed using the specified endpoint.") {
		t.Fatalf("subscribe of a cluster in eu-west-1 with REGION eu-west-1: %s, notified %+v; want the run failed with Redshift's wrong-Region error", noRegion.Status, notes)
	}
	sub, acct2 := run(nil, deploy.FnSubscribe, at.Add(time.Minute))
	if sub.Status != stepfunctions.StatusSucceeded {
		t.Fatalf("subscribe: %s %s %s", sub.Status, sub.Error, sub.Cause)
	}
	// A definition change alone (a column added on the transform) reaches the
	// subscriber through the deployed functions: a full version, applied in place.
	if err := admin.Exec(ctx, "ALTER TABLE sales.dim ADD COLUMN segment VARCHAR(20)"); err != nil {
		t.Fatal(err)
	}
	at = at.Add(2 * time.Minute)
	if res, _ := run(nil, deploy.FnPublish, at); res.Status != stepfunctions.StatusSucceeded {
		t.Fatalf("publish after a definition change: %s %s %s", res.Status, res.Error, res.Cause)
	}
	if res, _ := run(nil, deploy.FnSubscribe, at.Add(time.Minute)); res.Status != stepfunctions.StatusSucceeded {
		t.Fatalf("subscribe after a definition change: %s %s %s", res.Status, res.Error, res.Cause)
	}
	reporting, err := redshift.Open(ctx, pg.DSN("reporting"), redshift.Deps{S3: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	defer reporting.Close()
	if cols, err := reporting.Columns(ctx, "sales", "dim"); err != nil || len(cols) != 3 || cols[2].Name != "segment" {
		t.Errorf("the subscriber's table after a definition change: %+v %v", cols, err)
	}
	for _, a := range []*Account{acct, acct2} {
		if d := a.IAM.Denied(); len(d) > 0 {
			t.Errorf("denied: %+v", d)
		}
	}
	// UNLOAD's files are written under the stack's key, as everything else in the
	// lake: the function passes its key to the warehouse, and the offline S3 checks the
	// warehouse role's kms:GenerateDataKey on it (without a key the stand-in writes
	// SSE-S3, as UNLOAD does, and no KMS call is made: the positive control below
	// then fails for the role's KMS statement).
	if key := c.Functions[deploy.FnPublish].Environment[deploy.EnvKMSKeyID]; key == "" || key != c.KMSKeyArn {
		t.Errorf("the publish function's %s is %q, want the stack's key %q", deploy.EnvKMSKeyID, key, c.KMSKeyArn)
	}
	allowed := map[string]bool{}
	grants := append(append(acct.IAM.Allowed(), acct2.IAM.Allowed()...), acctAgain.IAM.Allowed()...)
	for _, g := range grants {
		allowed[g.Principal+" "+g.Action] = true
	}
	// The good runs' calls are in the reviewed list (the positive controls' below are
	// denied on purpose and left out).
	added, _, err := ComparePermissions(c, grants, filepath.Join("..", "..", "..", PermissionsFile), *updatePermissions)
	if err != nil {
		t.Fatal(err)
	}
	if len(added) > 0 {
		t.Errorf("calls missing from %s (review them, then `make permissions`):\n  %s", PermissionsFile, strings.Join(added, "\n  "))
	}
	// Positive control: each statement of the warehouse role is needed by a publish of
	// a changed table.
	for i := 0; i < base.StatementCount(deploy.RoleFederateWarehouse); i++ {
		if err := seedChange(ctx, pg.DSN("transform"), srv.Client(), 1000+i); err != nil {
			t.Fatal(err)
		}
		// The previous control's failed UNLOAD backs its table off: the operator's
		// way to retry at once is to delete the statement records.
		if err := deleteUnder(ctx, srv.Client(), c.Bucket, deploy.FederateStatementPrefix); err != nil {
			t.Fatal(err)
		}
		without, err := base.Without(deploy.RoleFederateWarehouse, i)
		if err != nil {
			t.Fatal(err)
		}
		at = at.Add(time.Minute)
		res, _ := run(without, deploy.FnPublish, at)
		if d := denied(without, deploy.RoleFederateWarehouse); len(d) == 0 || res.Status == stepfunctions.StatusSucceeded {
			stmt, _ := base.StatementJSON(deploy.RoleFederateWarehouse, i)
			t.Errorf("without statement %d of the warehouse role the publish was refused nothing (%s)\n%s", i, res.Status, stmt)
		}
	}
	for _, want := range []string{"publish redshift-data:ExecuteStatement", "subscribe redshift-data:BatchExecuteStatement",
		"federate-warehouse s3:PutObject", "federate-warehouse s3:GetObject", "federate-warehouse kms:GenerateDataKey", "federate-state-machine lambda:InvokeFunction", "federate-scheduler states:StartExecution"} {
		if !allowed[want] {
			t.Errorf("no %s was made and allowed (allowed: %v)", want, allowed)
		}
	}
}

// seedChange adds a row to the published table, so that the next publish unloads.
func seedChange(ctx context.Context, dsn string, client *s3.Client, id int) error {
	wh, err := redshift.Open(ctx, dsn, redshift.Deps{S3: client})
	if err != nil {
		return err
	}
	defer wh.Close()
	return wh.Exec(ctx, fmt.Sprintf("INSERT INTO sales.dim VALUES (%d, 'changed')", id))
}

// withoutEnv is the contract with one variable left out of a function's environment.
func withoutEnv(c *contract.Contract, function, name string) *contract.Contract {
	cp := *c
	cp.Functions = map[string]contract.Function{}
	for k, fn := range c.Functions {
		if k == function {
			env := map[string]string{}
			for n, v := range fn.Environment {
				if n != name {
					env[n] = v
				}
			}
			fn.Environment = env
		}
		cp.Functions[k] = fn
	}
	return &cp
}

// deleteUnder deletes every object under prefix.
func deleteUnder(ctx context.Context, client *s3.Client, bucket, prefix string) error {
	out, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	if err != nil {
		return err
	}
	for _, o := range out.Contents {
		if _, err := client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: o.Key}); err != nil {
			return err
		}
	}
	return nil
}

// startFederatorServers starts what every offline Federator test stands on: its own
// PostgreSQL with databases dbs (the warehouses), the contract, and its own S3 server
// with the lake bucket; both servers stop with the test.
func startFederatorServers(t testing.TB, dbs ...string) (*postgres.Server, *contract.Contract, *s3server.Server) {
	t.Helper()
	pg := postgrestest.Start(t)
	for _, db := range dbs {
		if err := pg.CreateDatabase(db); err != nil {
			t.Fatal(err)
		}
	}
	c, err := contract.Load()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := s3server.StartFake()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	if err := srv.CreateBucket(context.Background(), c.Bucket); err != nil {
		t.Fatal(err)
	}
	return pg, c, srv
}
