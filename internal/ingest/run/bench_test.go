package run

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/snaplake/snaplake/internal/ingest"
	gluelocal "github.com/snaplake/snaplake/internal/local/glue"
	"github.com/snaplake/snaplake/internal/local/mariadb/mariadbtest"
	"github.com/snaplake/snaplake/internal/local/s3server"
)

// BenchmarkReconfigure300 times a run's start for 300 tables against MariaDB and a
// local S3: discovery, the plan, 300 table leases (conditional writes), the plan
// file and the crawler pointed at 300 exact paths.
func BenchmarkReconfigure300(b *testing.B) {
	source.once.Do(func() { source.srv, source.stop, source.err = mariadbtest.StartForMain("snaplake-ingestrun") })
	if source.err != nil {
		b.Fatal(source.err)
	}
	root, err := source.srv.DB("")
	if err != nil {
		b.Fatal(err)
	}
	defer root.Close()
	const name = "bench300"
	for _, q := range []string{"DROP DATABASE IF EXISTS " + name, "CREATE DATABASE " + name} {
		if _, err := root.Exec(q); err != nil {
			b.Fatal(err)
		}
	}
	db, err := source.srv.DB(name)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	for i := range 300 {
		if _, err := db.Exec(fmt.Sprintf("CREATE TABLE t%03d (id BIGINT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(20))", i)); err != nil {
			b.Fatal(err)
		}
	}
	srv, err := s3server.StartFake()
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Stop()
	ctx := context.Background()
	if err := srv.CreateBucket(ctx, "lake"); err != nil {
		b.Fatal(err)
	}
	cat, err := gluelocal.OpenCatalog(filepath.Join(b.TempDir(), "catalog.json"))
	if err != nil {
		b.Fatal(err)
	}
	g := &gluelocal.Service{S3: srv.Client(), Catalog: cat, Crawlers: []gluelocal.Crawler{{Name: "snaplake-ingest-daily", Role: "r", Database: "raw_" + name}}}
	c := &ingest.Config{Source: ingest.Source{Instance: "local", Database: name}}
	s := &Starter{S3: srv.Client(), Bucket: "lake", Glue: g, Crawler: func(set string) string { return "snaplake-ingest-" + set },
		Config: func(context.Context) (*ingest.Config, error) { return c, nil },
		MySQL:  func(context.Context) (*sql.DB, error) { return db, nil }, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	at := time.Date(2026, 3, 30, 2, 0, 0, 0, time.UTC)
	var tables int
	var total time.Duration
	for b.Loop() {
		at = at.Add(time.Minute)
		start := time.Now()
		st, err := s.Start(ctx, StartInput{Event: RunRequest{Set: ingest.SetDaily, Force: true}, Time: at})
		total += time.Since(start)
		if err != nil || !st.Load {
			b.Fatalf("start: %+v %v", st, err)
		}
		tables = st.Planned
		b.StopTimer()
		plan, _ := ReadJobPlan(ctx, s.S3, st.Arguments[ingest.ArgPlan])
		var planned []ingest.PlannedTable
		for _, t := range plan.Tables {
			planned = append(planned, ingest.PlannedTable{Source: t.Source})
		}
		s.abandon(ctx, s.log(), name, ingest.SetDaily, st.Run, planned)
		b.StartTimer()
	}
	per := total / time.Duration(b.N)
	fmt.Printf("ingest reconfigure: %d tables, %.1f ms (discovery, plan, %d leases, the plan file, the crawler at %d exact paths)\n",
		tables, float64(per.Microseconds())/1000, tables, tables)
}
