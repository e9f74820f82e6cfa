package ingest

import (
	"context"
	"testing"
)

// Discovery reads each table's estimated rows, and the range key's bounds of the
// tables large enough to split in one more query, whatever their number.
func TestDiscoverReadsKeyBounds(t *testing.T) {
	root, err := server(t).DB("")
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	for _, q := range []string{
		"DROP DATABASE IF EXISTS splits", "CREATE DATABASE splits",
		"CREATE TABLE splits.big (id BIGINT UNSIGNED PRIMARY KEY, v INT)",
		"INSERT INTO splits.big SELECT seq * 3 + 18446744073709000000, seq FROM splits.seq_1_to_5000",
		"CREATE TABLE splits.comp (tenant INT NOT NULL, n INT NOT NULL, PRIMARY KEY (tenant, n))",
		"INSERT INTO splits.comp SELECT CAST(seq % 7 AS SIGNED) - 3, seq FROM splits.seq_1_to_3000",
		"CREATE TABLE splits.uuid (id CHAR(36) PRIMARY KEY)",
		"INSERT INTO splits.uuid SELECT UUID() FROM splits.seq_1_to_2000",
		"CREATE TABLE splits.small (id INT PRIMARY KEY)",
		"INSERT INTO splits.small SELECT seq FROM splits.seq_1_to_10",
		"CREATE TABLE splits.empty (id INT PRIMARY KEY)",
		"ANALYZE TABLE splits.big, splits.comp, splits.uuid, splits.small, splits.empty",
	} {
		if _, err := root.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	q := &CountingQueryer{Q: root}
	tables, err := Discover(context.Background(), q, "splits")
	if err != nil {
		t.Fatal(err)
	}
	if q.Queries() != DiscoveryQueries+KeyBoundsQueries {
		t.Errorf("%d queries, want %d", q.Queries(), DiscoveryQueries+KeyBoundsQueries)
	}
	got := map[string]Table{}
	for _, tb := range tables {
		got[tb.Name] = tb
	}
	str := func(p *string) string {
		if p == nil {
			return "<nil>"
		}
		return *p
	}
	for name, want := range map[string][2]string{
		"big":   {"18446744073709000003", "18446744073709015000"},
		"comp":  {"-3", "3"},
		"uuid":  {"<nil>", "<nil>"}, // not an integer key: not read
		"small": {"<nil>", "<nil>"}, // under MinRowsPerRange: not read
		"empty": {"<nil>", "<nil>"},
	} {
		tb := got[name]
		if str(tb.KeyMin) != want[0] || str(tb.KeyMax) != want[1] {
			t.Errorf("%s: bounds %s..%s, want %s..%s (estimated rows %d)", name, str(tb.KeyMin), str(tb.KeyMax), want[0], want[1], tb.EstimatedRows)
		}
	}
	if r := got["big"].EstimatedRows; r < 2500 || r > 10000 {
		t.Errorf("big: estimated rows %d, want about 5000", r)
	}
	if r := got["small"].EstimatedRows; r > 100 {
		t.Errorf("small: estimated rows %d, want about 10", r)
	}
}
