package deploy

// SnapshotRoles are the stack's principals that hold Lake Formation permissions on
// a governed snapshot database and its _latest companion.
type SnapshotRoles struct {
	Crawler string // the crawlers' role: creates and changes the snapshot tables
	Latest  string // the latest function's role: reads the snapshot tables, writes _latest
	Grants  string // the grants function's role: applies the access rules (grant option)
}

// LakeGrant is one Lake Formation permission on a database (Table empty) or on
// every table of it (Table "*").
type LakeGrant struct {
	Principal string
	Database  string
	Table     string // "" the database; "*" every table (TableWildcard)
	// Permissions and Grantable (PermissionsWithGrantOption).
	Permissions, Grantable []string
}

// SnapshotLakeGrants are the permissions the stack's roles hold on the governed
// snapshot database name and its _latest companion: what the stack grants for a
// database it was deployed with (infra), and what the crawl wait grants for one it
// catalogs at runtime (internal/export/callback). The data location permission on
// data/ is not per database: the stack grants it once.
func SnapshotLakeGrants(name string, r SnapshotRoles) []LakeGrant {
	latest := LatestDatabaseName(name)
	all := []string{"ALL"}
	return []LakeGrant{
		{Principal: r.Crawler, Database: name, Permissions: []string{"CREATE_TABLE", "ALTER", "DESCRIBE"}},
		{Principal: r.Crawler, Database: name, Table: "*", Permissions: all},
		{Principal: r.Latest, Database: latest, Permissions: []string{"CREATE_TABLE", "ALTER", "DESCRIBE"}},
		{Principal: r.Latest, Database: latest, Table: "*", Permissions: all},
		// It reads the snapshot tables' partitions (GetPartitions): the catalog returns
		// only the metadata the caller's permissions cover.
		{Principal: r.Latest, Database: name, Table: "*", Permissions: []string{"SELECT", "DESCRIBE"}},
		{Principal: r.Grants, Database: name, Permissions: all, Grantable: all},
		{Principal: r.Grants, Database: name, Table: "*", Permissions: all, Grantable: all},
		{Principal: r.Grants, Database: latest, Permissions: all, Grantable: all},
		{Principal: r.Grants, Database: latest, Table: "*", Permissions: all, Grantable: all},
	}
}
