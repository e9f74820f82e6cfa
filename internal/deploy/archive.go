package deploy

// Names of retention archiving (internal/archive).
const (
	// SectionArchive is the archive section of snaplake.yaml.
	SectionArchive = "archive"
	// ArchivePrefix holds the archive: archive/<database>/<table>/cutoff=<YYYY-MM-DD>/,
	// and each run's manifest under archive-runs/ (ArchiveManifestPrefix), outside
	// the table's folder so that no crawler or table reads it.
	ArchivePrefix         = "archive/"
	ArchiveManifestPrefix = "state/archive-runs/"
)
