package deploy

// The sections of snaplake.yaml (its top-level keys), one per capability. A
// capability's run reads only its own section and skips the others, so that a
// mistake in one capability's section does not stop another's runs; a top-level key
// that is none of these is a typo, and an error. `snaplake config validate` checks
// them all (internal/opscli's File has one field per name, a test holds it to this
// list).
const (
	SectionExport   = "export"
	SectionIngest   = "ingest"
	SectionFederate = "federate"
	// SectionArchive ("archive") is declared with the archive's names (archive.go).
)

// ConfigSections lists every section of snaplake.yaml, in the order the file's
// schema declares them.
var ConfigSections = []string{SectionExport, SectionIngest, SectionFederate, SectionArchive}
