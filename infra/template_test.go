package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
)

var updateTemplates = flag.Bool("update-templates", false, "rewrite infra/testdata/templates/ from the synthesized templates")

// templateCases are the deployments whose whole template is kept under
// testdata/templates/: every combination of sections the nag test synthesizes,
// environment-agnostic and pinned, and the remaining variants the capability tests
// read (manual snapshots, ingestion in UTC and with a customer managed key, the
// Federator on its defaults and with a database user).
func templateCases() map[string]func() map[string]any {
	cases := map[string]func() map[string]any{}
	for name, sections := range envTestContexts {
		cases[name] = sections
	}
	for _, name := range []string{"utc", "cmk"} {
		cases["ingest-"+name] = ingestTestContexts[name]
	}
	for _, name := range []string{"defaults", "dbuser"} {
		cases["federate-"+name] = federateTestContexts[name]
	}
	// Aurora: clusters beside instances, and clusters only (no instance rules).
	cases["aurora"] = func() map[string]any {
		return map[string]any{
			KeyDBInstanceIDs: []any{"orders-prod"}, KeyDBClusterIDs: []any{"orders-aurora", "billing-aurora"}, KeyDatabases: []any{"Shop", "billing"},
		}
	}
	cases["aurora-only"] = func() map[string]any {
		return map[string]any{KeyDBInstanceIDs: nil, KeyDBClusterIDs: []any{"orders-aurora"}, KeyDatabases: []any{"Shop"}}
	}
	// A Glue database prefix, no ingestion: the crawl wait catalogs new databases
	// at runtime (catalogsAtRuntime).
	cases["runtime-catalog"] = func() map[string]any {
		return map[string]any{KeyDatabases: []any{"Shop", "billing"}, KeyGlueDatabasePrefix: "snap_"}
	}
	// The same with the ingestion: Lake Formation governs the snapshot databases, and
	// the crawl wait grants on a new one as a data lake administrator.
	cases["governed-runtime-catalog"] = func() map[string]any {
		return mergeContexts(ingestTestContexts["utc"](), map[string]any{KeyDatabases: []any{"Shop", "billing"}, KeyGlueDatabasePrefix: "snap_"})
	}
	cases["manual-snapshots"] = func() map[string]any {
		return map[string]any{
			KeyDBInstanceIDs: []any{"orders-prod", "Billing-DB"}, KeyDatabases: []any{"Shop", "billing"},
			KeyIncludeManualSnapshots: true,
		}
	}
	return cases
}

// TestTemplatesUnchanged synthesizes each templateCases deployment and compares the
// whole template with the one committed under testdata/templates/. A deployed stack
// is updated in place only while its logical IDs stay: a named resource (a Glue
// database, function, role, state machine) under a new logical ID is created anew
// before the old one is deleted, and fails on the name the old one still holds. So a
// refactoring of the CDK code must leave this test passing untouched; a change meant
// to alter the template regenerates them with -update-templates, and the diff is
// reviewed.
//
// Nothing is normalised: the Lambda code and Glue script assets are hashed from
// their contents (the stand-in bootstraps writeDummyAssets writes, and the embedded
// script), which are the same on every machine, and the hashes are part of what
// must not change.
func TestTemplatesUnchanged(t *testing.T) {
	dir := t.TempDir()
	writeDummyAssets(t, dir)
	envs := map[string]*awscdk.Environment{
		"agnostic": nil,
		"pinned":   {Account: jsii.String(testAccount), Region: jsii.String(testRegion)},
	}
	cases := templateCases()
	for _, name := range slices.Sorted(maps.Keys(cases)) {
		for _, envName := range slices.Sorted(maps.Keys(envs)) {
			t.Run(name+"/"+envName, func(t *testing.T) {
				ctx := map[string]any{
					KeyDBInstanceIDs: []any{"orders-prod"}, KeyDatabases: []any{"Shop"},
					KeyNotificationEmail: "ops@example.com",
				}
				maps.Copy(ctx, cases[name]())
				ctx[KeyLambdaAssetDir] = dir
				cfg, err := ParseConfig(lookupFrom(ctx))
				if err != nil {
					t.Fatalf("ParseConfig: %v", err)
				}
				s := synthIn(t, cfg, envs[envName])
				got, err := json.MarshalIndent(s.json, "", "  ")
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, '\n')
				path := filepath.Join("testdata", "templates", name+"-"+envName+".json")
				if *updateTemplates {
					if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(path, got, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (generate with -update-templates)", err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("the template differs from %s (a changed logical ID or property would change what a deployed stack does on update):\n%s", path, lineDiff(string(want), string(got)))
				}
			})
		}
	}
}
