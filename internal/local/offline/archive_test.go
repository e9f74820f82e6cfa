package offline

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/local/contract"
	gluelocal "github.com/snaplake/snaplake/internal/local/glue"
	"github.com/snaplake/snaplake/internal/local/mariadb/mariadbtest"
	"github.com/snaplake/snaplake/internal/local/s3server"
	"github.com/snaplake/snaplake/internal/local/stepfunctions"
	"github.com/snaplake/snaplake/internal/local/testenv"
)

// TestArchiveWorkflow runs the archive's state machine in aws-local-stepfunctions
// with its real functions, each as its deployed role, against a real MariaDB (the
// archiving user holding SELECT and DELETE on the table only) and versitygw:
//   - a run whose invocations each end on their deadline loops until the table is
//     complete, then the archive is cataloged and the old rows are gone;
//   - a config naming a table the user may not DELETE from is refused at the plan,
//     notified, and nothing changes;
//   - no call of either run is denied by the synthesized policies.
func TestArchiveWorkflow(t *testing.T) {
	testenv.NeedsServers(t)
	testenv.NeedsNode(t)
	ctx := context.Background()
	c, err := contract.Load()
	if err != nil {
		t.Fatal(err)
	}
	srv := mariadbtest.Start(t)
	root, err := srv.DB("")
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	for _, q := range []string{
		"CREATE DATABASE warehouse",
		"CREATE TABLE warehouse.events (id INT PRIMARY KEY, at DATETIME NOT NULL, kind VARCHAR(20))",
		"INSERT INTO warehouse.events SELECT seq, IF(seq <= 3000, NOW() - INTERVAL 3 YEAR, NOW()), 'click' FROM warehouse.seq_1_to_4000",
		"CREATE TABLE warehouse.audit (id INT PRIMARY KEY, at DATETIME NOT NULL)",
		"INSERT INTO warehouse.audit VALUES (1, NOW() - INTERVAL 3 YEAR)",
		"CREATE USER 'archiver'@'%' IDENTIFIED BY 'pw'",
		"GRANT SELECT, DELETE ON warehouse.events TO 'archiver'@'%'",
		"GRANT SELECT ON warehouse.audit TO 'archiver'@'%'",
	} {
		if _, err := root.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	store, err := s3server.StartVersityGW(ctx, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Stop)
	if err := store.CreateBucket(ctx, c.Bucket); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	acct, err := NewAccount(store, AccountOptions{Contract: c, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(acct.Close)
	cat, err := gluelocal.OpenCatalog(filepath.Join(t.TempDir(), "catalog.json"))
	if err != nil {
		t.Fatal(err)
	}
	putConfig := func(yaml string) {
		t.Helper()
		if _, err := store.Client().PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(c.Bucket), Key: aws.String(deploy.ConfigKey), Body: strings.NewReader(yaml)}); err != nil {
			t.Fatal(err)
		}
	}
	invocations := 0
	p, err := NewArchive(ArchiveConfig{Account: acct, Catalog: cat, MySQLEndpoint: "127.0.0.1:" + strconv.Itoa(srv.Port),
		Secret:            Secret{Arn: c.Functions[deploy.FnArchiveTable].Environment[deploy.EnvSecretArn], Value: `{"username":"archiver","password":"pw"}`},
		InvocationTimeout: 1500 * time.Millisecond, BudgetMargin: time.Second, RetryInterval: 100 * time.Millisecond, Log: log,
		Observe: func(o Observation) {
			if o.Kind == "task-start" && o.State == "ArchiveTable" {
				invocations++
			}
		}})
	if err != nil {
		t.Fatal(err)
	}

	putConfig("archive:\n  tables:\n    warehouse.events:\n      retention: 2y\n      column: at\n      batchRows: 500\n      deleteRows: 50\n      pause: 40ms\n")
	res, err := p.Run(ctx, "{}", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != stepfunctions.StatusSucceeded {
		t.Fatalf("run: %s %s %s", res.Status, res.Error, res.Cause)
	}
	if invocations < 2 {
		t.Errorf("the table took %d invocations, want the loop to resume it at least once", invocations)
	}
	var left, old int
	if err := root.QueryRow("SELECT COUNT(*), COALESCE(SUM(id <= 3000), 0) FROM warehouse.events").Scan(&left, &old); err != nil {
		t.Fatal(err)
	}
	if left != 1000 || old != 0 {
		t.Errorf("rows left %d (old %d), want the 1000 newer than the cutoff", left, old)
	}
	tb, err := cat.Table(deploy.ArchiveDatabaseName("warehouse"), "events")
	if err != nil {
		t.Fatalf("the archive's catalog entry: %v", err)
	}
	if len(tb.Partitions) != 1 || tb.Location != "s3://"+c.Bucket+"/archive/warehouse/events/" {
		t.Errorf("catalog entry %+v, want one cutoff partition at archive/warehouse/events/", tb)
	}

	// The run released its lease at its end; a run started while another holds it
	// (the lease of a run still going, written here as the bucket's owner) changes
	// nothing, and says why.
	if _, err := store.Client().HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(c.Bucket), Key: aws.String(deploy.ArchiveRunLeaseKey)}); err == nil {
		t.Error("the run's lease is still there after the run")
	}
	other := fmt.Sprintf(`{"run":"arn:aws:states:us-east-1:000000000000:execution:other","since":%q,"expiresAt":%q}`,
		time.Now().UTC().Format(time.RFC3339), time.Now().Add(20*time.Minute).UTC().Format(time.RFC3339))
	if _, err := store.Client().PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(c.Bucket), Key: aws.String(deploy.ArchiveRunLeaseKey), Body: strings.NewReader(other)}); err != nil {
		t.Fatal(err)
	}
	if res, err = p.Run(ctx, "{}", time.Now().Add(10*time.Second)); err != nil || res.Status != stepfunctions.StatusFailed {
		t.Fatalf("overlapping run: %v %s, want FAILED", err, res.Status)
	}
	if n := p.Notifications(); len(n) == 0 || !strings.Contains(n[len(n)-1].Message, "RunInProgressError") {
		t.Errorf("the overlapping run's notification does not name RunInProgressError: %+v", n)
	}
	if _, err := store.Client().DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(c.Bucket), Key: aws.String(deploy.ArchiveRunLeaseKey)}); err != nil {
		t.Fatal(err)
	}
	// The next run finds the table complete for its cutoff: nothing to move, the
	// catalog entry brought up to date (UpdateTable) as the table function's role.
	if res, err = p.Run(ctx, `{"table":"warehouse.events"}`, time.Now().Add(30*time.Second)); err != nil || res.Status != stepfunctions.StatusSucceeded {
		t.Fatalf("second run: %v %s %s %s", err, res.Status, res.Error, res.Cause)
	}
	if err := root.QueryRow("SELECT COUNT(*) FROM warehouse.events").Scan(&left); err != nil || left != 1000 {
		t.Errorf("rows after the second run: %d %v", left, err)
	}

	// A table the archiving user may not DELETE from: refused at the plan, notified.
	putConfig("archive:\n  tables:\n    warehouse.events:\n      retention: 2y\n      column: at\n    warehouse.audit:\n      retention: 2y\n      column: at\n")
	res, err = p.Run(ctx, "{}", time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != stepfunctions.StatusFailed {
		t.Errorf("refused plan: %s, want FAILED", res.Status)
	}
	notified := false
	for _, n := range p.Notifications() {
		if strings.Contains(n.Message, "PlanRefusedError") && strings.Contains(n.Message, "warehouse.audit") {
			notified = true
		}
	}
	if !notified {
		t.Errorf("no notification names PlanRefusedError and warehouse.audit: %+v", p.Notifications())
	}
	var audit int
	if err := root.QueryRow("SELECT COUNT(*) FROM warehouse.audit").Scan(&audit); err != nil || audit != 1 {
		t.Errorf("warehouse.audit has %d rows (%v), want its row untouched", audit, err)
	}
	for _, d := range acct.IAM.Denied() {
		t.Errorf("call denied: %+v", d)
	}
	// What snaplake doctor simulates in the real account: every call these runs made.
	added, _, err := ComparePermissions(c, acct.IAM.Allowed(), filepath.Join("..", "..", "..", PermissionsFile), *updatePermissions)
	if err != nil {
		t.Fatal(err)
	}
	if len(added) > 0 {
		t.Errorf("calls allowed by the deployed policies but missing from %s (review them, then `make permissions`):\n  %s", PermissionsFile, strings.Join(added, "\n  "))
	}
}
