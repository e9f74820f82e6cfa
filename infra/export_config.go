package main

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/snaplake/snaplake/internal/deploy"
)

// The export's context keys: top-level keys of their own, not a section.
const (
	KeyDBInstanceIDs          = "snaplake:dbInstanceIds"
	KeyDBClusterIDs           = "snaplake:dbClusterIds"
	KeyDatabases              = "snaplake:databases"
	KeyRetentionDays          = "snaplake:retentionDays"
	KeyExportTimeoutHours     = "snaplake:exportTimeoutHours"
	KeyCrawlTimeoutMinutes    = "snaplake:crawlTimeoutMinutes"
	KeyIncludeManualSnapshots = "snaplake:includeManualSnapshots"
	KeyGlueDatabasePrefix     = "snaplake:glueDatabasePrefix"
	KeyExportRecheckMinutes   = "snaplake:exportRecheckMinutes"
	KeySnapshotTimeZone       = "snaplake:snapshotTimeZone"
)

var (
	// RDS DB instance identifier rules: a letter first, letters, digits and single hyphens, no trailing hyphen.
	instanceIDRE = regexp.MustCompile(`^[A-Za-z](?:[A-Za-z0-9]|-[A-Za-z0-9])*$`)
	// Athena reads lower-case letters, digits and underscores without quoting.
	glueNameRE = regexp.MustCompile(`^[a-z0-9_]+$`)
)

// parseExport reads the export's keys into c (which holds the defaults); every
// problem is a *ConfigError naming its key.
func parseExport(lookup func(key string) any, c *Config) []error {
	var errs []error
	fail := func(key, format string, args ...any) {
		errs = append(errs, &ConfigError{Key: key, Reason: fmt.Sprintf(format, args...)})
	}
	var err error
	// The sources: DB instances, Aurora DB clusters, or both; one of the two is needed.
	sources := func(key, what string) []string {
		ids, err := stringList(lookup(key))
		if err != nil {
			fail(key, "%v", err)
			return nil
		}
		for i, id := range ids {
			// RDS stores identifiers lower-cased, so its snapshot ids and events carry
			// them so. Instance and cluster identifiers follow the same rules.
			ids[i] = strings.ToLower(id)
			if len(id) > 63 || !instanceIDRE.MatchString(id) {
				fail(key, "%q is not an RDS %s identifier (1-63 letters, digits, single hyphens, starting with a letter)", id, what)
			}
		}
		if dup := duplicate(ids, strings.ToLower); dup != "" {
			fail(key, "%q is listed twice", dup)
		}
		return ids
	}
	c.DBInstanceIDs = sources(KeyDBInstanceIDs, "DB instance")
	c.DBClusterIDs = sources(KeyDBClusterIDs, "DB cluster")
	if len(c.DBInstanceIDs) == 0 && len(c.DBClusterIDs) == 0 && len(errs) == 0 {
		fail(KeyDBInstanceIDs, "required: list the RDS DB instance identifiers whose snapshots to export (or the Aurora DB cluster identifiers in %s, or both)", KeyDBClusterIDs)
	}

	if c.Databases, err = stringList(lookup(KeyDatabases)); err != nil {
		fail(KeyDatabases, "%v", err)
	} else if len(c.Databases) == 0 {
		fail(KeyDatabases, "required: list the source MySQL databases to export and catalog")
	}
	if c.GlueDatabasePrefix, err = stringValue(lookup(KeyGlueDatabasePrefix)); err != nil {
		fail(KeyGlueDatabasePrefix, "%v", err)
	} else if c.GlueDatabasePrefix != "" && !glueNameRE.MatchString(c.GlueDatabasePrefix) {
		fail(KeyGlueDatabasePrefix, "%q must be lower-case letters, digits and underscores (a Glue database name prefix)", c.GlueDatabasePrefix)
	}
	for _, db := range c.Databases {
		name := c.GlueDatabasePrefix + strings.ToLower(db)
		if !glueNameRE.MatchString(strings.ToLower(db)) || len(name) > 255 {
			fail(KeyDatabases, "%q is not usable as a Glue database name once lower-cased (letters, digits, underscores; at most 255 bytes with the prefix)", db)
		}
	}
	if dup := duplicate(c.Databases, strings.ToLower); dup != "" {
		fail(KeyDatabases, "%q is listed twice (names are compared lower-cased, as Glue stores them)", dup)
	}

	intKey := func(key string, dst *int, lo, hi int) {
		if err := intSetting(lookup, key, dst, lo, hi); err != nil {
			errs = append(errs, err)
		}
	}
	intKey(KeyRetentionDays, &c.RetentionDays, 1, 3650)
	// Step Functions task timeouts stop at 99999999 s; an export over a week is stuck.
	intKey(KeyExportTimeoutHours, &c.ExportTimeoutHours, 1, 168)
	intKey(KeyCrawlTimeoutMinutes, &c.CrawlTimeoutMinutes, 1, 24*60)
	intKey(KeyExportRecheckMinutes, &c.ExportRecheckMinutes, 1, 24*60)
	if c.ExportRecheckMinutes > c.ExportTimeoutHours*60 {
		fail(KeyExportRecheckMinutes, "%d minutes is longer than the export timeout (%d hours)", c.ExportRecheckMinutes, c.ExportTimeoutHours)
	}
	if tz, err := stringValue(lookup(KeySnapshotTimeZone)); err != nil {
		fail(KeySnapshotTimeZone, "%v", err)
	} else if tz != "" {
		if _, err := time.LoadLocation(tz); err != nil {
			fail(KeySnapshotTimeZone, "%q is not an IANA time zone name (like UTC or Europe/Berlin)", tz)
		} else {
			c.SnapshotTimeZone = tz
		}
	}
	if c.IncludeManualSnapshots, err = boolValue(lookup(KeyIncludeManualSnapshots)); err != nil {
		fail(KeyIncludeManualSnapshots, "%v", err)
	}
	return errs
}

// GlueDatabaseName is the catalog database of a source database.
func (c Config) GlueDatabaseName(db string) string {
	return deploy.GlueDatabaseName(c.GlueDatabasePrefix, db)
}

// CrawlerNames lists the crawlers of every configured database.
func (c Config) CrawlerNames() []string {
	out := make([]string, 0, len(c.Databases))
	for _, db := range c.Databases {
		out = append(out, deploy.CrawlerName(db))
	}
	return out
}
