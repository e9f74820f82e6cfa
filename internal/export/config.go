package export

import (
	"fmt"
	"strconv"
	"time"

	"github.com/snaplake/snaplake/internal/deploy"
)

// minExportRecheck is the shortest recheck the function accepts. The stack sets whole
// minutes (snaplake:exportRecheckMinutes, at least 1: an export takes 30 minutes or
// more, so a finer recheck only spends API calls); the offline run shortens it to
// seconds so its tests can lose an event and see it found.
const minExportRecheck = time.Second

// Config is what a deployment sets for the start-export function.
type Config struct {
	Bucket                 string   // the lake bucket
	Prefix                 string   // where exports land, deploy.ExportPrefix
	RoleArn                string   // the role RDS assumes to write the export
	KMSKeyID               string   // the pipeline key; RDS requires one
	DBInstanceIDs          []string // instances whose snapshots are exported
	DBClusterIDs           []string // Aurora clusters whose automated cluster snapshots are exported
	Databases              []string // ExportOnly: source databases to export (empty: all)
	IncludeManualSnapshots bool
	ExportTimeout          time.Duration
	// ExportRecheck is how often the state machine asks RDS for the export's status
	// while it waits for the completion event (zero: deploy.DefaultExportRecheck,
	// at most ExportTimeout).
	ExportRecheck time.Duration
	CrawlTimeout  time.Duration
	// SnapshotZone is the zone whose calendar day of the snapshot's creation names
	// its partition, snapshot_date=YYYY-MM-DD (nil: UTC).
	SnapshotZone *time.Location
}

// ConfigFromEnv reads the function's environment; the names are deploy's Env* constants.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		Bucket:        getenv(deploy.EnvBucket),
		Prefix:        getenv(deploy.EnvExportPrefix),
		RoleArn:       getenv(deploy.EnvExportRoleArn),
		KMSKeyID:      getenv(deploy.EnvKMSKeyID),
		DBInstanceIDs: deploy.SplitList(getenv(deploy.EnvDBInstanceIDs)),
		DBClusterIDs:  deploy.SplitList(getenv(deploy.EnvDBClusterIDs)),
		Databases:     deploy.SplitList(getenv(deploy.EnvDatabases)),
	}
	if c.Prefix == "" {
		c.Prefix = deploy.ExportPrefix
	}
	for _, req := range []struct{ name, v string }{
		{deploy.EnvBucket, c.Bucket}, {deploy.EnvExportRoleArn, c.RoleArn}, {deploy.EnvKMSKeyID, c.KMSKeyID},
	} {
		if req.v == "" {
			return Config{}, &deploy.EnvError{Var: req.name, Problem: "is not set"}
		}
	}
	if len(c.DBInstanceIDs) == 0 && len(c.DBClusterIDs) == 0 {
		return Config{}, &deploy.EnvError{Var: deploy.EnvDBInstanceIDs, Problem: "is not set, and neither is " + deploy.EnvDBClusterIDs + ": list the DB instances or Aurora clusters whose snapshots to export"}
	}
	if v := getenv(deploy.EnvIncludeManualSnapshots); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return Config{}, &deploy.EnvError{Var: deploy.EnvIncludeManualSnapshots, Problem: fmt.Sprintf("%q is not true or false", v)}
		}
		c.IncludeManualSnapshots = b
	}
	var err error
	if c.ExportTimeout, err = seconds(getenv, deploy.EnvExportTimeoutSeconds, deploy.DefaultExportTimeout); err != nil {
		return Config{}, err
	}
	if c.CrawlTimeout, err = seconds(getenv, deploy.EnvCrawlTimeoutSeconds, deploy.DefaultCrawlTimeout); err != nil {
		return Config{}, err
	}
	if c.ExportRecheck, err = readExportRecheck(getenv, c.ExportTimeout); err != nil {
		return Config{}, err
	}
	if c.SnapshotZone, err = loadSnapshotZone(getenv(deploy.EnvSnapshotTimeZone)); err != nil {
		return Config{}, err
	}
	return c, nil
}

// readExportRecheck reads the recheck interval. A value the deployment sets must lie
// between a second and the export timeout; the default is only shortened to a
// shorter export timeout, so setting the timeout alone never breaks the function.
func readExportRecheck(getenv func(string) string, timeout time.Duration) (time.Duration, error) {
	name := deploy.EnvExportRecheckSeconds
	if getenv(name) == "" {
		return min(deploy.DefaultExportRecheck, timeout), nil
	}
	d, err := seconds(getenv, name, 0)
	if err != nil {
		return 0, err
	}
	if d < minExportRecheck || d > timeout {
		return 0, &deploy.EnvError{Var: name, Problem: fmt.Sprintf("%d seconds is not between %d and the export timeout (%d seconds)",
			int(d/time.Second), int(minExportRecheck/time.Second), int(timeout/time.Second))}
	}
	return d, nil
}

// loadSnapshotZone loads the IANA zone that dates snapshots. "Local" is refused: it
// would date partitions by whatever zone the Lambda host happens to run in.
func loadSnapshotZone(name string) (*time.Location, error) {
	if name == "" {
		name = deploy.DefaultSnapshotTimeZone
	}
	if name == "Local" {
		return nil, &deploy.EnvError{Var: deploy.EnvSnapshotTimeZone, Problem: `"Local" is not an IANA time zone name; name the zone, e.g. "Europe/Berlin" or "UTC"`}
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, &deploy.EnvError{Var: deploy.EnvSnapshotTimeZone, Problem: fmt.Sprintf("%q is not an IANA time zone name: %v", name, err)}
	}
	return loc, nil
}

func seconds(getenv func(string) string, name string, def time.Duration) (time.Duration, error) {
	v := getenv(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, &deploy.EnvError{Var: name, Problem: fmt.Sprintf("%q is not a positive number of seconds", v)}
	}
	return time.Duration(n) * time.Second, nil
}

// exportRecheck is the configured recheck interval, or the default for a Config
// built by hand (as the offline pipeline does) that leaves it zero.
func (c Config) exportRecheck() time.Duration {
	if c.ExportRecheck > 0 {
		return c.ExportRecheck
	}
	if c.ExportTimeout > 0 {
		return min(deploy.DefaultExportRecheck, c.ExportTimeout)
	}
	return deploy.DefaultExportRecheck
}

// snapshotZone is the configured zone, UTC when unset.
func (c Config) snapshotZone() *time.Location {
	if c.SnapshotZone == nil {
		return time.UTC
	}
	return c.SnapshotZone
}
