package opscli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/snaplake/snaplake/internal/local/postgres/postgrestest"
	"github.com/snaplake/snaplake/internal/local/s3server"
)

func TestFederateUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "Usage: snaplake federate publish"},
		{[]string{"publsh"}, `unknown subcommand "publsh"`},
		{[]string{"publish", "--bucket", "b"}, "missing --config"},
		{[]string{"subscribe", "--config", "c", "--bucket", "b"}, "subscribe needs one --subscriber"},
		{[]string{"status", "--config", "c", "--bucket", "b", "--subscriber", "a", "--subscriber", "b", "--redshift", "postgres://x"}, "one --redshift per --subscriber"},
	} {
		var stdout, stderr bytes.Buffer
		err := Federate(context.Background(), tc.args, &stdout, &stderr)
		if !errors.Is(err, ErrUsage) || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%v: %v, stderr %q, want usage with %q", tc.args, err, stderr.String(), tc.want)
		}
	}
}

// TestFederateByHand publishes, subscribes and reports through the commands, with
// PostgreSQL standing in for Redshift and S3 reached through AWS_ENDPOINT_URL_S3.
func TestFederateByHand(t *testing.T) {
	pg := postgrestest.Start(t)
	for _, db := range []string{"transform", "reporting"} {
		if err := pg.CreateDatabase(db); err != nil {
			t.Fatal(err)
		}
	}
	conn, err := pgx.Connect(context.Background(), pg.DSN("transform"))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"CREATE SCHEMA sales", "CREATE TABLE sales.dim (id INTEGER NOT NULL, name TEXT)", "INSERT INTO sales.dim VALUES (1, 'a'), (2, 'b')"} {
		if _, err := conn.Exec(context.Background(), q); err != nil {
			t.Fatal(err)
		}
	}
	conn.Close(context.Background())
	s3srv, err := s3server.StartFake()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s3srv.Stop)
	if err := s3srv.CreateBucket(context.Background(), "lake"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, kv := range append(s3srv.Env(), "AWS_CONFIG_FILE="+filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(dir, "credentials"),
		"AWS_PROFILE=", "AWS_SESSION_TOKEN=", "AWS_EC2_METADATA_DISABLED=true", "AWS_ENDPOINT_URL=") {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	configPath := filepath.Join(dir, "snaplake.yaml")
	cfg := fmt.Sprintf("federate:\n  publisher: %s\n  tables:\n    - {table: sales.dim}\n  subscribers:\n    - {name: reporting, redshift: \"%s\"}\n", pg.DSN("transform"), pg.DSN("reporting"))
	if err := os.WriteFile(configPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) map[string]any {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if err := Federate(context.Background(), append(args, "--config", configPath, "--bucket", "lake"), &stdout, &stderr); err != nil {
			t.Fatalf("federate %v: %v\n%s", args, err, stderr.String())
		}
		var line map[string]any
		if err := json.Unmarshal(stdout.Bytes(), &line); err != nil {
			t.Fatalf("federate %v printed %q: %v", args, stdout.String(), err)
		}
		return line
	}
	if l := run("publish"); l["action"] != "published" || l["rows"] != 2.0 || l["table"] != "sales.dim" {
		t.Errorf("publish: %v", l)
	}
	if l := run("publish"); l["action"] != "unchanged" {
		t.Errorf("publish again: %v", l)
	}
	if l := run("status", "--subscriber", "reporting"); l["subscribers"].([]any)[0].(map[string]any)["lagRows"] != 2.0 {
		t.Errorf("status before subscribing: %v", l)
	}
	if l := run("subscribe", "--subscriber", "reporting"); l["action"] != "loaded" || l["rows"] != 2.0 {
		t.Errorf("subscribe: %v", l)
	}
	st := run("status", "--subscriber", "reporting")
	sub := st["subscribers"].([]any)[0].(map[string]any)
	if sub["version"] != st["version"] || sub["lagRows"] != 0.0 {
		t.Errorf("status after subscribing: %v", st)
	}
}

// TestFederateWithASubscriberDown: with one subscriber unreachable, status still
// prints every table with the healthy subscriber's place and the down one's own
// error, and subscribe to the down one prints each table's line naming it; both exit
// non-zero only after printing.
func TestFederateWithASubscriberDown(t *testing.T) {
	pg := postgrestest.Start(t)
	for _, db := range []string{"transform", "reporting"} {
		if err := pg.CreateDatabase(db); err != nil {
			t.Fatal(err)
		}
	}
	conn, err := pgx.Connect(context.Background(), pg.DSN("transform"))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"CREATE SCHEMA sales", "CREATE TABLE sales.dim (id INTEGER NOT NULL)", "CREATE TABLE sales.fact (id INTEGER NOT NULL)",
		"INSERT INTO sales.dim VALUES (1), (2)", "INSERT INTO sales.fact VALUES (1)"} {
		if _, err := conn.Exec(context.Background(), q); err != nil {
			t.Fatal(err)
		}
	}
	conn.Close(context.Background())
	s3srv, err := s3server.StartFake()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s3srv.Stop)
	if err := s3srv.CreateBucket(context.Background(), "lake"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, kv := range append(s3srv.Env(), "AWS_CONFIG_FILE="+filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(dir, "credentials"),
		"AWS_PROFILE=", "AWS_SESSION_TOKEN=", "AWS_EC2_METADATA_DISABLED=true", "AWS_ENDPOINT_URL=") {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	const downURL = "postgres://postgres@127.0.0.1:1/none?connect_timeout=2"
	configPath := filepath.Join(dir, "snaplake.yaml")
	cfg := fmt.Sprintf("federate:\n  publisher: %s\n  tables:\n    - {table: sales.dim}\n    - {table: sales.fact}\n  subscribers:\n    - {name: reporting, redshift: \"%s\"}\n    - {name: down, redshift: \"%s\"}\n",
		pg.DSN("transform"), pg.DSN("reporting"), downURL)
	if err := os.WriteFile(configPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) ([]map[string]any, error) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		err := Federate(context.Background(), append(args, "--config", configPath, "--bucket", "lake"), &stdout, &stderr)
		var lines []map[string]any
		dec := json.NewDecoder(&stdout)
		for dec.More() {
			var l map[string]any
			if err := dec.Decode(&l); err != nil {
				t.Fatalf("federate %v printed %q: %v", args, stdout.String(), err)
			}
			lines = append(lines, l)
		}
		return lines, err
	}
	if _, err := run("publish"); err != nil {
		t.Fatal(err)
	}
	if _, err := run("subscribe", "--subscriber", "reporting"); err != nil {
		t.Fatal(err)
	}

	lines, err := run("status")
	if err == nil || !strings.Contains(err.Error(), "subscriber down") {
		t.Errorf("status with a subscriber down: error %v, want one naming it", err)
	}
	if len(lines) != 2 {
		t.Fatalf("status printed %d lines, want one per table: %v", len(lines), lines)
	}
	for _, l := range lines {
		subs := map[string]map[string]any{}
		for _, s := range l["subscribers"].([]any) {
			subs[s.(map[string]any)["subscriber"].(string)] = s.(map[string]any)
		}
		if r := subs["reporting"]; r == nil || r["version"] != l["version"] || r["error"] != nil {
			t.Errorf("%s: the healthy subscriber's status is %v", l["table"], r)
		}
		if d := subs["down"]; d == nil || !strings.HasPrefix(fmt.Sprint(d["error"]), "subscriber down is unreachable") {
			t.Errorf("%s: the down subscriber's status is %v", l["table"], d)
		}
	}

	lines, err = run("subscribe", "--subscriber", "down")
	if err == nil || len(lines) != 2 {
		t.Fatalf("subscribe to the down subscriber: %v, %d lines %v", err, len(lines), lines)
	}
	for _, l := range lines {
		if l["action"] != "failed" || l["subscriber"] != "down" || !strings.HasPrefix(fmt.Sprint(l["error"]), "subscriber down is unreachable") {
			t.Errorf("subscribe to the down subscriber printed %v", l)
		}
	}
}
