package main

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/snaplake/snaplake/internal/deploy"
)

func lookupFrom(m map[string]any) func(string) any {
	return func(k string) any { return m[k] }
}

func TestParseConfigDefaults(t *testing.T) {
	got, err := ParseConfig(lookupFrom(map[string]any{
		KeyDBInstanceIDs: []any{"Orders-Prod"},
		KeyDatabases:     []any{"Shop"},
	}))
	if err != nil {
		t.Fatalf("ParseConfig: %v", err)
	}
	want := Config{
		DBInstanceIDs:        []string{"orders-prod"},
		Databases:            []string{"Shop"},
		RetentionDays:        7,
		ExportTimeoutHours:   12,
		ExportRecheckMinutes: 15,
		CrawlTimeoutMinutes:  60,
		SnapshotTimeZone:     "UTC",
		LambdaAssetDir:       filepath.Join("build", "lambda"),
		LogRetentionDays:     90,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseConfig = %+v, want %+v", got, want)
	}
	if n := got.GlueDatabaseName("Shop"); n != "shop" {
		t.Errorf("GlueDatabaseName(Shop) = %q, want shop", n)
	}
	if n := deploy.CrawlerName("Shop"); n != "snaplake-shop" {
		t.Errorf("deploy.CrawlerName(Shop) = %q, want snaplake-shop", n)
	}
}

func TestParseConfigFromCommandLineStrings(t *testing.T) {
	// `cdk synth -c key=value` delivers every value as a string.
	got, err := ParseConfig(lookupFrom(map[string]any{
		KeyDBInstanceIDs:          "a-1, b-2",
		KeyDatabases:              `["shop","crm"]`,
		KeyRetentionDays:          "3",
		KeyExportTimeoutHours:     "6",
		KeyCrawlTimeoutMinutes:    "30",
		KeyIncludeManualSnapshots: "true",
		KeyGlueDatabasePrefix:     "lake_",
		KeyLambdaAssetDir:         "/x/lambda",
		KeyLogRetentionDays:       "30",
		KeyNotificationEmail:      "ops@example.com",
		KeyExportRecheckMinutes:   "10",
		KeySnapshotTimeZone:       "Europe/Berlin",
	}))
	if err != nil {
		t.Fatalf("ParseConfig: %v", err)
	}
	want := Config{
		DBInstanceIDs: []string{"a-1", "b-2"}, Databases: []string{"shop", "crm"},
		RetentionDays: 3, ExportTimeoutHours: 6, CrawlTimeoutMinutes: 30, IncludeManualSnapshots: true,
		ExportRecheckMinutes: 10, SnapshotTimeZone: "Europe/Berlin",
		GlueDatabasePrefix: "lake_", LambdaAssetDir: "/x/lambda", LogRetentionDays: 30, NotificationEmail: "ops@example.com",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseConfig = %+v, want %+v", got, want)
	}
	if n := got.GlueDatabaseName("CRM"); n != "lake_crm" {
		t.Errorf("GlueDatabaseName(CRM) = %q, want lake_crm", n)
	}
}

func TestParseConfigErrors(t *testing.T) {
	valid := func() map[string]any {
		return map[string]any{KeyDBInstanceIDs: []any{"orders"}, KeyDatabases: []any{"shop"}}
	}
	tests := []struct {
		name    string
		edit    func(map[string]any)
		wantKey string
		wantMsg string
	}{
		{"missing instances", func(m map[string]any) { delete(m, KeyDBInstanceIDs) }, KeyDBInstanceIDs, "required"},
		{"empty instances", func(m map[string]any) { m[KeyDBInstanceIDs] = []any{} }, KeyDBInstanceIDs, "required"},
		{"instance not a string", func(m map[string]any) { m[KeyDBInstanceIDs] = []any{1.0} }, KeyDBInstanceIDs, "want a string"},
		{"instance bad name", func(m map[string]any) { m[KeyDBInstanceIDs] = []any{"1orders"} }, KeyDBInstanceIDs, "not an RDS DB instance identifier"},
		{"instance double hyphen", func(m map[string]any) { m[KeyDBInstanceIDs] = []any{"a--b"} }, KeyDBInstanceIDs, "not an RDS DB instance identifier"},
		{"instance trailing hyphen", func(m map[string]any) { m[KeyDBInstanceIDs] = []any{"ab-"} }, KeyDBInstanceIDs, "not an RDS DB instance identifier"},
		{"instance twice", func(m map[string]any) { m[KeyDBInstanceIDs] = []any{"a", "A"} }, KeyDBInstanceIDs, "listed twice"},
		{"neither instances nor clusters", func(m map[string]any) { delete(m, KeyDBInstanceIDs); m[KeyDBClusterIDs] = []any{} }, KeyDBInstanceIDs, KeyDBClusterIDs},
		{"cluster bad name", func(m map[string]any) { m[KeyDBClusterIDs] = []any{"aurora_1"} }, KeyDBClusterIDs, "not an RDS DB cluster identifier"},
		{"cluster trailing hyphen", func(m map[string]any) { m[KeyDBClusterIDs] = []any{"aurora-"} }, KeyDBClusterIDs, "not an RDS DB cluster identifier"},
		{"cluster twice", func(m map[string]any) { m[KeyDBClusterIDs] = []any{"aurora", "Aurora"} }, KeyDBClusterIDs, "listed twice"},
		{"cluster not a list", func(m map[string]any) { m[KeyDBClusterIDs] = 3.0 }, KeyDBClusterIDs, "want a list"},
		{"missing databases", func(m map[string]any) { delete(m, KeyDatabases) }, KeyDatabases, "required"},
		{"database with hyphen", func(m map[string]any) { m[KeyDatabases] = []any{"my-shop"} }, KeyDatabases, "Glue database name"},
		{"database twice by case", func(m map[string]any) { m[KeyDatabases] = []any{"Shop", "shop"} }, KeyDatabases, "listed twice"},
		{"database list is a number", func(m map[string]any) { m[KeyDatabases] = 3.0 }, KeyDatabases, "want a list"},
		{"prefix upper case", func(m map[string]any) { m[KeyGlueDatabasePrefix] = "Lake_" }, KeyGlueDatabasePrefix, "lower-case"},
		{"retention zero", func(m map[string]any) { m[KeyRetentionDays] = 0.0 }, KeyRetentionDays, "out of range"},
		{"retention fraction", func(m map[string]any) { m[KeyRetentionDays] = 1.5 }, KeyRetentionDays, "whole number"},
		{"export timeout text", func(m map[string]any) { m[KeyExportTimeoutHours] = "soon" }, KeyExportTimeoutHours, "whole number"},
		{"recheck longer than the timeout", func(m map[string]any) { m[KeyExportTimeoutHours] = 1.0; m[KeyExportRecheckMinutes] = 61.0 }, KeyExportRecheckMinutes, "longer than the export timeout"},
		{"recheck zero", func(m map[string]any) { m[KeyExportRecheckMinutes] = 0.0 }, KeyExportRecheckMinutes, "out of range"},
		{"time zone unknown", func(m map[string]any) { m[KeySnapshotTimeZone] = "Mars/Olympus" }, KeySnapshotTimeZone, "IANA time zone"},
		{"export timeout too long", func(m map[string]any) { m[KeyExportTimeoutHours] = 200.0 }, KeyExportTimeoutHours, "out of range"},
		{"crawl timeout zero", func(m map[string]any) { m[KeyCrawlTimeoutMinutes] = 0.0 }, KeyCrawlTimeoutMinutes, "out of range"},
		{"log retention not offered", func(m map[string]any) { m[KeyLogRetentionDays] = 10.0 }, KeyLogRetentionDays, "not a CloudWatch Logs retention period"},
		{"manual snapshots not bool", func(m map[string]any) { m[KeyIncludeManualSnapshots] = "maybe" }, KeyIncludeManualSnapshots, "not true or false"},
		{"email malformed", func(m map[string]any) { m[KeyNotificationEmail] = "ops" }, KeyNotificationEmail, "not an e-mail address"},
		{"asset dir not a string", func(m map[string]any) { m[KeyLambdaAssetDir] = true }, KeyLambdaAssetDir, "want a string"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := valid()
			tc.edit(m)
			_, err := ParseConfig(lookupFrom(m))
			if err == nil {
				t.Fatal("ParseConfig succeeded, want an error")
			}
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Key != tc.wantKey {
				t.Fatalf("error %q does not name key %s", err, tc.wantKey)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) || !strings.Contains(err.Error(), tc.wantKey) {
				t.Errorf("error %q, want it to name %s and say %q", err, tc.wantKey, tc.wantMsg)
			}
		})
	}
}

func TestParseConfigReportsEveryProblem(t *testing.T) {
	_, err := ParseConfig(lookupFrom(map[string]any{KeyRetentionDays: -1.0}))
	if err == nil {
		t.Fatal("ParseConfig succeeded, want an error")
	}
	for _, key := range []string{KeyDBInstanceIDs, KeyDatabases, KeyRetentionDays} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("error %q does not mention %s", err, key)
		}
	}
}

func TestCheckLambdaAssets(t *testing.T) {
	dir := t.TempDir()
	c := Config{LambdaAssetDir: dir}
	if err := c.CheckLambdaAssets(); err == nil {
		t.Fatal("CheckLambdaAssets on an empty directory succeeded")
	} else if !strings.Contains(err.Error(), filepath.Join(dir, "relocate", "bootstrap")) {
		t.Errorf("error %q does not name the missing relocate binary", err)
	}
	writeDummyAssets(t, dir)
	if err := c.CheckLambdaAssets(); err != nil {
		t.Errorf("CheckLambdaAssets with every binary present: %v", err)
	}
}

// writeDummyAssets puts a distinct stand-in bootstrap under dir for every function.
func writeDummyAssets(t *testing.T, dir string) {
	t.Helper()
	for _, name := range FunctionNames {
		if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name, "bootstrap"), []byte("#!/bin/sh\n# "+name+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
}
