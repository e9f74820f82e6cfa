package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/snaplake/snaplake/internal/deploy"
)

// SnaplakeStackProps configures the stack.
type SnaplakeStackProps struct {
	awscdk.StackProps
	Config Config
}

// NewSnaplakeStack builds the stack: the shared base (base.go), the nightly export
// (export.go), and the ingestion (ingest.go), retention archiving (archive.go) and
// the Federator (federate.go) when their context sections are set. The order is the template's: resources are
// chained, listed and named in the order they are created (TestTemplatesUnchanged).
func NewSnaplakeStack(scope constructs.Construct, id string, props *SnaplakeStackProps) awscdk.Stack {
	var sprops awscdk.StackProps
	var cfg Config
	if props != nil {
		sprops = props.StackProps
		cfg = props.Config
	}
	stack := awscdk.NewStack(scope, jsii.String(id), &sprops)
	base := NewBase(stack, BaseProps{
		NotificationEmail: cfg.NotificationEmail,
		LambdaAssetDir:    cfg.LambdaAssetDir,
		LogRetentionDays:  cfg.LogRetentionDays,
	})
	var lakeDBs []string // registered with Lake Formation
	if cfg.Ingest != nil {
		lakeDBs = append(lakeDBs, cfg.Ingest.CatalogDatabase(), cfg.Ingest.CurrentDatabase())
	}
	// With the ingestion's grants function, the config's access rules govern the
	// snapshot databases too, through Lake Formation.
	export := NewExport(base, &ExportProps{Config: cfg, LakeDatabases: lakeDBs, Governed: cfg.Ingest != nil})
	base.AddDeadLettersAlarm()
	var ingest *Ingest
	if cfg.Ingest != nil {
		ingest = NewIngest(base, &IngestProps{Config: *cfg.Ingest, Snapshots: export.Snapshots, SnapshotPrincipals: export.SnapshotPrincipals,
			SnapshotDatabases: export.snapshotDatabases(), GlueDatabasePrefix: cfg.GlueDatabasePrefix})
		export.GrantRuntimeCatalogs(ingest.fns[deploy.FnApplyGrants].Role())
	}
	if cfg.Archive != nil {
		NewArchive(base, &ArchiveProps{Config: *cfg.Archive, Stack: cfg, Export: export, Ingest: ingest})
	}
	if cfg.Federate != nil {
		NewFederate(base, &FederateProps{Config: *cfg.Federate})
	}
	export.AddExportQuotaAlarm()
	base.Finish()
	base.Outputs()
	return stack
}
