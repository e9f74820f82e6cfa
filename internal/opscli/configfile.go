package opscli

import (
	_ "embed"
	"slices"

	"github.com/snaplake/snaplake/internal/archive"
	"github.com/snaplake/snaplake/internal/export"
	"github.com/snaplake/snaplake/internal/federate"
	"github.com/snaplake/snaplake/internal/ingest"
)

// File is the whole of snaplake.yaml, every capability's section: what `snaplake
// config validate` and doctor check, and what the published schema describes. A run
// reads only its own section (config.SectionFromS3); this is the one place that knows
// them all. Each section is a pointer with omitempty (absent is nil) and identical
// yaml and json names, one per name of deploy.ConfigSections (a test holds it to the
// list); the published schema follows after `go test ./internal/opscli -run
// TestPublishedSchemaIsGenerated -update-schema`.
type File struct {
	// Export says which source databases and tables the nightly snapshot export
	// takes into the lake (default: every database).
	Export *export.Selection `yaml:"export,omitempty" json:"export,omitempty"`
	// Ingest configures the config-driven loads of MySQL/MariaDB tables into the lake.
	Ingest *ingest.Config `yaml:"ingest,omitempty" json:"ingest,omitempty"`
	// Federate configures the Federator: Redshift tables published to S3 once and
	// subscribed by any number of reporting warehouses.
	Federate *federate.Config `yaml:"federate,omitempty" json:"federate,omitempty"`
	// Archive configures retention archiving: the rows of production tables older
	// than a retention period moved into the lake, verified, then deleted gently.
	Archive *archive.Config `yaml:"archive,omitempty" json:"archive,omitempty"`
}

//go:embed snaplake.schema.json
var schema []byte

// Schema is the JSON Schema (draft 2020-12) of snaplake.yaml, generated from File by
// config.GenerateSchema (see File). Editors use it to complete and check the file; it
// says the structure, config.Parse also applies the sections' own rules.
func Schema() []byte { return slices.Clone(schema) }
