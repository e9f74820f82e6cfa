package deploy

import "encoding/json"

// The settings of a snapshot database's crawler, shared by the stack's crawlers
// (infra) and the ones the crawl wait creates at runtime for a database the stack
// was not deployed with (internal/export/callback), so both crawl alike.
const (
	// CrawlerUpdateBehavior and CrawlerDeleteBehavior are the crawler's
	// SchemaChangePolicy: a table follows its files, and a table whose files are gone
	// leaves the catalog.
	CrawlerUpdateBehavior = "UPDATE_IN_DATABASE"
	CrawlerDeleteBehavior = "DELETE_FROM_DATABASE"
	// CrawlerRecrawlBehavior: pruned partitions must leave the catalog too, so every
	// run looks at all.
	CrawlerRecrawlBehavior = "CRAWL_EVERYTHING"
	// EnvCrawlerRoleArn is the role the crawl wait gives a crawler it creates.
	EnvCrawlerRoleArn = "CRAWLER_ROLE_ARN"
	// EnvCrawlerSecurityConfiguration is the Glue security configuration of every
	// snapshot crawler (it encrypts the crawler's logs).
	EnvCrawlerSecurityConfiguration = "CRAWLER_SECURITY_CONFIGURATION"
	// EnvLatestRoleArn and EnvGrantsRoleArn are set where Lake Formation governs the
	// snapshot databases: the crawl wait grants those roles (and the crawler role)
	// their SnapshotLakeGrants on a database it catalogs at runtime.
	EnvLatestRoleArn = "LATEST_ROLE_ARN"
	EnvGrantsRoleArn = "GRANTS_ROLE_ARN"
)

// CrawlerConfiguration makes each include path exactly one table ("Create a single
// schema for each S3 include path"), partitioned by the folders below it, so the
// table level never depends on how Glue counts TableLevelConfiguration levels (its
// documentation is ambiguous). The state machine points the crawler at one include
// path per table folder before each run. New partitions inherit the table's schema,
// so a day's export never forks the table.
var CrawlerConfiguration = mustJSON(map[string]any{
	"Version":       1.0,
	"Grouping":      map[string]any{"TableGroupingPolicy": "CombineCompatibleSchemas"},
	"CrawlerOutput": map[string]any{"Partitions": map[string]any{"AddOrUpdateBehavior": "InheritFromTable"}},
})

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// CrawlerDescription describes the crawler of source database db.
func CrawlerDescription(db string) string {
	return "Catalogs data/" + db + "/: one table per include path, partitioned by snapshot_date; the export workflow sets the include paths before each run"
}

// SnapshotDatabaseDescription describes the Glue database of source database db.
func SnapshotDatabaseDescription(db string) string {
	return "snaplake: nightly snapshots of MySQL database " + db
}

// LatestDatabaseDescription describes the _latest companion of the Glue database
// name of source database db.
func LatestDatabaseDescription(db, name string) string {
	return "snaplake: the newest nightly snapshot of each table of MySQL database " + db + " (one table per table of " + name + ", unpartitioned)"
}
