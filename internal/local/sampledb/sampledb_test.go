package sampledb

import (
	"context"
	"testing"
	"time"

	"github.com/snaplake/snaplake/internal/local/mariadb/mariadbtest"
)

func TestCreateSnapshotAndAddDay(t *testing.T) {
	ctx := context.Background()
	srv := mariadbtest.Start(t)
	db, err := srv.DB("")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if ok, err := Exists(ctx, db); err != nil || ok {
		t.Fatalf("Exists before Create = %v, %v", ok, err)
	}
	sizes := SizesFor(5000)
	if err := Create(ctx, db, sizes); err != nil {
		t.Fatal(err)
	}
	if ok, err := Exists(ctx, db); err != nil || !ok {
		t.Fatalf("Exists after Create = %v, %v", ok, err)
	}
	var staged int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", staging).Scan(&staged); err != nil || staged != 0 {
		t.Errorf("staging database left behind: %d, %v", staged, err)
	}
	counts, err := Counts(ctx, db, Database)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"projects": int64(sizes.Projects), "users": int64(sizes.Users), "files": int64(sizes.Files), "file_downloads": int64(sizes.Downloads)}
	for table, n := range want {
		if counts[table] != n {
			t.Errorf("%s has %d rows, want %d", table, counts[table], n)
		}
	}
	added, err := AddDay(ctx, db, time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC))
	if err != nil || added < 10 {
		t.Fatalf("AddDay = %d, %v", added, err)
	}
	if err := Snapshot(ctx, db, Database, "snap_test"); err != nil {
		t.Fatal(err)
	}
	snap, err := Counts(ctx, db, "snap_test")
	if err != nil {
		t.Fatal(err)
	}
	if snap["file_downloads"] != want["file_downloads"]+int64(added) || snap["projects"] != want["projects"] {
		t.Errorf("snapshot counts %v, want the database's after a day (%d downloads added)", snap, added)
	}
	var n int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM snap_test.file_downloads WHERE DATE(downloaded_at) = '2026-11-22'").Scan(&n); err != nil || n != added {
		t.Errorf("downloads dated that day in the snapshot: %d, %v; want %d", n, err, added)
	}
	// Deterministic: the same sizes give the same rows.
	var sum1, sum2 string
	if err := db.QueryRowContext(ctx, "SELECT CONCAT(SUM(id * owner_id), ':', SUM(storage_quota_gb)) FROM warehouse.projects").Scan(&sum1); err != nil {
		t.Fatal(err)
	}
	if err := Create(ctx, db, sizes); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRowContext(ctx, "SELECT CONCAT(SUM(id * owner_id), ':', SUM(storage_quota_gb)) FROM warehouse.projects").Scan(&sum2); err != nil || sum1 != sum2 {
		t.Errorf("not deterministic: %s then %s (%v)", sum1, sum2, err)
	}
}
