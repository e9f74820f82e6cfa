package main

import (
	"os"
	"sync"
	"testing"

	"github.com/snaplake/snaplake/internal/local/testenv"
)

const testArchiveSecretArn = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:warehouse-archiver-XyZ789"

// archiveContext is a valid snaplake:archive section; vpc adds the network fields.
func archiveContext(vpc bool) map[string]any {
	m := map[string]any{
		"secretArn": testArchiveSecretArn,
		"endpoint":  "shop.cluster-abc.eu-central-1.rds.amazonaws.com:3306",
	}
	if vpc {
		m["subnetIds"] = []any{"subnet-0123456789abcdef0", "subnet-0fedcba9876543210"}
		m["securityGroupIds"] = []any{"sg-0123456789abcdef0"}
		m["schedule"] = "cron(30 2 ? * SAT *)"
		m["timeZone"] = "Europe/Berlin"
	}
	return m
}

// archiveTestContexts are the stacks the archive tests read (with
// snaplake:databases Shop, as every test stack has).
var archiveTestContexts = map[string]func() map[string]any{
	"none": func() map[string]any { return map[string]any{} },
	"vpc":  func() map[string]any { return map[string]any{KeyArchive: archiveContext(true)} },
	// With the ingestion: Lake Formation governs the snapshot and archive databases.
	"governed": func() map[string]any {
		a := archiveContext(false)
		a["secretKmsKeyArn"] = testSecretKey
		return map[string]any{KeyIngest: ingestContext(true), KeyArchive: a}
	},
}

var (
	archiveOnce   sync.Map // context name -> *sync.Once
	archiveStacks sync.Map // context name -> *synthesized
	archiveAssets struct {
		sync.Mutex
		dir string
	}
)

// archiveStackFor synthesizes (once) the stack of a named archive test context.
func archiveStackFor(t *testing.T, name string) *synthesized {
	t.Helper()
	testenv.NeedsNode(t)
	once, _ := archiveOnce.LoadOrStore(name, &sync.Once{})
	once.(*sync.Once).Do(func() {
		archiveAssets.Lock()
		if archiveAssets.dir == "" {
			dir, err := os.MkdirTemp("", "snaplake-archive-test")
			if err != nil {
				t.Fatal(err)
			}
			writeDummyAssets(t, dir)
			archiveAssets.dir = dir
		}
		archiveAssets.Unlock()
		ctx := map[string]any{
			KeyDBInstanceIDs: []any{"orders-prod"}, KeyDatabases: []any{"Shop"},
			KeyNotificationEmail: "ops@example.com", KeyLambdaAssetDir: archiveAssets.dir,
		}
		for k, v := range archiveTestContexts[name]() {
			ctx[k] = v
		}
		cfg, err := ParseConfig(lookupFrom(ctx))
		if err != nil {
			t.Fatalf("ParseConfig(%s): %v", name, err)
		}
		if err := cfg.CheckLambdaAssets(); err != nil {
			t.Fatalf("CheckLambdaAssets(%s): %v", name, err)
		}
		archiveStacks.Store(name, synth(t, cfg))
	})
	s, ok := archiveStacks.Load(name)
	if !ok {
		t.Fatalf("stack %s did not synthesize", name)
	}
	return s.(*synthesized)
}
