package run_test

import (
	"context"
	"encoding/json"
	"errors"
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
	"github.com/aws/aws-sdk-go-v2/service/glue"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	archiverun "github.com/snaplake/snaplake/internal/archive/run"
	"github.com/snaplake/snaplake/internal/deploy"
	localglue "github.com/snaplake/snaplake/internal/local/glue"
	"github.com/snaplake/snaplake/internal/local/mariadb/mariadbtest"
	"github.com/snaplake/snaplake/internal/local/s3server"
	"github.com/snaplake/snaplake/internal/local/testenv"
)

// rootSecret answers the archiving user's secret: the test server's root.
type rootSecret struct{}

func (rootSecret) GetSecretValue(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	return &secretsmanager.GetSecretValueOutput{SecretString: aws.String(`{"username":"root","password":""}`)}, nil
}

// The table function as deployed, against a real MariaDB, S3 server and the Glue
// stand-in: an invocation whose time runs out stops with the table incomplete (what
// it archived already cataloged, partitioned by its cutoff), and the next resumes
// from the manifest and completes it. The plan lists the configured tables, and
// refuses a table of a database the stack does not archive, changing nothing.
func TestTableFunctionResumesThenCatalogs(t *testing.T) {
	testenv.NeedsServers(t)
	ctx := context.Background()
	srv := mariadbtest.Start(t)
	root, err := srv.DB("")
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	for _, q := range []string{
		"CREATE DATABASE shop",
		"CREATE TABLE shop.orders (id INT PRIMARY KEY, created_at DATETIME NOT NULL, note VARCHAR(40))",
		// 6,000 rows: ids 1..4000 two years old, 4001..6000 from today.
		"INSERT INTO shop.orders SELECT seq, IF(seq <= 4000, NOW() - INTERVAL 2 YEAR, NOW()), CONCAT('note ', seq) FROM shop.seq_1_to_6000",
	} {
		if _, err := root.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	dir := t.TempDir()
	store, err := s3server.StartVersityGW(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Stop)
	if err := store.CreateBucket(ctx, "lake"); err != nil {
		t.Fatal(err)
	}
	s3c := store.Client()
	putConfig := func(yaml string) {
		t.Helper()
		if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("lake"), Key: aws.String(deploy.ConfigKey), Body: strings.NewReader(yaml)}); err != nil {
			t.Fatal(err)
		}
	}
	putConfig("archive:\n  tables:\n    shop.orders:\n      retention: 365d\n      column: created_at\n      batchRows: 1000\n      deleteRows: 100\n      pause: 25ms\n")
	cat, err := localglue.OpenCatalog(filepath.Join(t.TempDir(), "catalog.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := cat.CreateDatabase(deploy.ArchiveDatabaseName("shop")); err != nil {
		t.Fatal(err)
	}
	g := &localglue.Service{Catalog: cat}
	env := map[string]string{
		deploy.EnvBucket: "lake", deploy.EnvMySQLEndpoint: "127.0.0.1:" + strconv.Itoa(srv.Port), deploy.EnvSecretArn: "arn:aws:secretsmanager:us-east-1:000000000000:secret:archiver",
		deploy.EnvArchiveDatabases: "shop", deploy.EnvArchiveBudgetMargin: "1",
	}
	getenv := func(k string) string { return env[k] }
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	clients := archiverun.Clients{S3: s3c, Secrets: rootSecret{}, Glue: g}
	plan, err := archiverun.NewArchivePlan(getenv, clients, log)
	if err != nil {
		t.Fatal(err)
	}
	table, err := archiverun.NewArchiveTable(getenv, clients, log)
	if err != nil {
		t.Fatal(err)
	}

	out, err := plan(ctx, json.RawMessage(`{"execution":"e1"}`))
	if err != nil {
		t.Fatal(err)
	}
	if p := out.(archiverun.PlanResult); len(p.Tables) != 1 || p.Tables[0] != "shop.orders" {
		t.Errorf("plan = %+v, want [shop.orders]", p)
	}

	// An invocation with 1.5 s left keeps 1 s: it stops on its budget.
	short, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
	res, err := table(short, json.RawMessage(`{"table":"shop.orders","execution":"e1"}`))
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	first := res.(archiverun.TableResult)
	if first.Complete || first.Rows == 0 || first.Catalog != "shop_archive.orders" {
		t.Fatalf("first invocation = %+v, want it stopped on its budget, its rows already cataloged", first)
	}
	// What the unfinished run archived (and deleted) is queryable already.
	if _, err := g.GetTable(ctx, &glue.GetTableInput{DatabaseName: aws.String("shop_archive"), Name: aws.String("orders")}); err != nil {
		t.Errorf("the rows an unfinished run archived are not cataloged: %v", err)
	}
	res, err = table(ctx, json.RawMessage(`{"table":"shop.orders","execution":"e1"}`))
	if err != nil {
		t.Fatal(err)
	}
	second := res.(archiverun.TableResult)
	if !second.Complete || !second.Resumed || second.Rows != 4000 || second.RowsDeleted != 4000 || second.Catalog != "shop_archive.orders" {
		t.Errorf("second invocation = %+v, want complete, resumed, 4000 rows archived and deleted, cataloged as shop_archive.orders", second)
	}
	var left, old int
	if err := root.QueryRow("SELECT COUNT(*), COALESCE(SUM(id <= 4000), 0) FROM shop.orders").Scan(&left, &old); err != nil {
		t.Fatal(err)
	}
	if left != 2000 || old != 0 {
		t.Errorf("rows left %d (old %d), want 2000 new ones", left, old)
	}
	tb, err := cat.Table("shop_archive", "orders")
	if err != nil {
		t.Fatal(err)
	}
	cutoff := second.Cutoff.UTC().Format("2006-01-02")
	if len(tb.PartitionKeys) != 1 || tb.PartitionKeys[0].Name != "cutoff" || len(tb.Partitions) != 1 || tb.Partitions[0] != cutoff ||
		tb.Location != "s3://lake/archive/shop/orders/" || len(tb.Columns) != 3 {
		t.Errorf("catalog entry = %+v, want 3 columns at s3://lake/archive/shop/orders/ with partition cutoff=%s", tb, cutoff)
	}
	// Cataloging again (the next run of the same cutoff) changes nothing, and keeps
	// a parameter an operator set on the table.
	tb.Parameters = map[string]string{"operator": "kept"}
	if err := cat.Put(tb); err != nil {
		t.Fatal(err)
	}
	// Another run while e1's lease is live changes nothing: one run at a time.
	var inProgress *archiverun.RunInProgressError
	if _, err := plan(ctx, json.RawMessage(`{"execution":"e2"}`)); !errors.As(err, &inProgress) || inProgress.Held.Lease.Run != "e1" {
		t.Errorf("a second run's plan: %v, want *RunInProgressError naming e1", err)
	}
	if _, err := table(ctx, json.RawMessage(`{"table":"shop.orders","execution":"e2"}`)); !errors.As(err, &inProgress) {
		t.Errorf("a second run's table: %v, want *RunInProgressError", err)
	}
	res, err = table(ctx, json.RawMessage(`{"table":"shop.orders","execution":"e1"}`))
	if err != nil {
		t.Fatalf("a run with nothing left: %v", err)
	}
	if third := res.(archiverun.TableResult); !third.Complete {
		t.Errorf("a run with nothing left = %+v", third)
	}
	if tb, err = cat.Table("shop_archive", "orders"); err != nil || tb.Parameters["operator"] != "kept" || len(tb.Partitions) != 1 {
		t.Errorf("after cataloging again: %+v %v, want the operator's parameter kept and one partition", tb, err)
	}

	// A table of a database the stack does not archive: refused, nothing changed.
	putConfig("archive:\n  tables:\n    shop.orders:\n      retention: 365d\n      column: created_at\n    billing.invoices:\n      retention: 365d\n      column: created_at\n")
	var refused *archiverun.PlanRefusedError
	var notArchived *archiverun.DatabaseNotArchivedError
	if _, err := plan(ctx, json.RawMessage(`{}`)); !errors.As(err, &refused) || !errors.As(err, &notArchived) || notArchived.Table != "billing.invoices" {
		t.Errorf("plan with billing.invoices: %v, want PlanRefusedError naming it", err)
	}
	if err := root.QueryRow("SELECT COUNT(*) FROM shop.orders").Scan(&left); err != nil || left != 2000 {
		t.Errorf("rows after the refused plan: %d %v", left, err)
	}
	_ = fmt.Sprint
}
