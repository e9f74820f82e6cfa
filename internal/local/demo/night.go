package demo

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/local/contract"
	"github.com/snaplake/snaplake/internal/local/offline"
	"github.com/snaplake/snaplake/internal/local/sampledb"
)

type state struct {
	LastNight string `json:"lastNight"`         // the last night that ran to its end, YYYY-MM-DD
	Pending   string `json:"pending,omitempty"` // a night that started and never ended (a killed run)
	Nights    int    `json:"nights"`
}

// openHome creates home if needed and locks it for this run.
func openHome(dir string) (home string, unlock func(), err error) {
	home, err = filepath.Abs(dir)
	if err != nil {
		return "", nil, fmt.Errorf("resolve home %s: %w", dir, err)
	}
	if err := os.MkdirAll(home, 0o755); err != nil {
		return "", nil, fmt.Errorf("create home %s: %w", home, err)
	}
	unlock, err = lockHome(home)
	if err != nil {
		return "", nil, err
	}
	return home, unlock, nil
}

// ensureWarehouse creates the sample database on the first run; it says whether the
// database was already there.
func ensureWarehouse(ctx context.Context, pool *sql.DB, rows int, p *printer) (exists bool, err error) {
	t := time.Now()
	exists, err = sampledb.Exists(ctx, pool)
	if err != nil {
		return false, err
	}
	if !exists {
		sizes := sampledb.SizesFor(rows)
		if err := sampledb.Create(ctx, pool, sizes); err != nil {
			return false, err
		}
		p.stage("sample database "+sampledb.Database, fmt.Sprintf("%s rows created", thousands(int64(sizes.Total()))), time.Since(t))
	}
	return exists, nil
}

// beginNight picks the night this run processes and records it as pending in
// state.json: the night after the last one that ended, or a pending night an earlier
// run left unfinished, whose partial output it removes first. nightEnded records the
// night as ended.
func beginNight(ctx context.Context, home string, client *s3.Client, bucket string, p *printer) (night time.Time, nightEnded func() error, err error) {
	st, err := loadState(home)
	if err != nil {
		return night, nil, err
	}
	night = time.Now().UTC().Truncate(24 * time.Hour)
	switch {
	case st.Pending != "":
		// An earlier run was killed mid-night: remove what it left and run that night again.
		if night, err = time.Parse("2006-01-02", st.Pending); err != nil {
			return night, nil, fmt.Errorf("read %s: pending %q: %w", filepath.Join(home, "state.json"), st.Pending, err)
		}
		t := time.Now()
		n, err := removeNight(ctx, client, bucket, night)
		if err != nil {
			return night, nil, err
		}
		p.stage("recover unfinished night "+st.Pending, fmt.Sprintf("an earlier run stopped midway: %d partial objects removed, night runs again", n), time.Since(t))
	case st.LastNight != "":
		last, err := time.Parse("2006-01-02", st.LastNight)
		if err != nil {
			return night, nil, fmt.Errorf("read %s: lastNight %q: %w", filepath.Join(home, "state.json"), st.LastNight, err)
		}
		night = last.AddDate(0, 0, 1)
	}
	st.Pending = night.Format("2006-01-02")
	if err := saveState(home, st); err != nil {
		return night, nil, err
	}
	// The night has ended, well or not, once its execution has: it is not run again
	// (as in RDS, its export id cannot be reused).
	nightEnded = func() error {
		st.LastNight, st.Pending, st.Nights = st.Pending, "", st.Nights+1
		return saveState(home, st)
	}
	return night, nightEnded, nil
}

// addDay adds the night's day of activity to the sample database.
func addDay(ctx context.Context, pool *sql.DB, night time.Time, p *printer) error {
	t := time.Now()
	n, err := sampledb.AddDay(ctx, pool, night)
	if err != nil {
		return err
	}
	p.stage("day of activity", fmt.Sprintf("%s new file downloads on %s", thousands(int64(n)), night.Format("2006-01-02")), time.Since(t))
	return nil
}

// uploadConfig uploads yaml to the lake as snaplake.yaml, where the night's
// functions read it; empty leaves the lake's config as it is.
func uploadConfig(ctx context.Context, client *s3.Client, bucket, yaml string, p *printer) error {
	if yaml == "" {
		return nil
	}
	t := time.Now()
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(deploy.ConfigKey), Body: strings.NewReader(yaml)}); err != nil {
		return fmt.Errorf("upload the config to s3://%s/%s: %w", bucket, deploy.ConfigKey, err)
	}
	p.stage("config", "s3://"+bucket+"/"+deploy.ConfigKey, time.Since(t))
	return nil
}

// takeSnapshot takes the nightly automated snapshot, a copy of every database of
// the source in a schema of its own, as an RDS snapshot holds every database of the
// instance, and records it in rep.
func takeSnapshot(ctx context.Context, pool *sql.DB, c *contract.Contract, night time.Time, aurora bool, rep *Report, p *printer) (err error) {
	t := time.Now()
	rep.SnapshotDate = night.Format("2006-01-02")
	// RDS names automated snapshots rds:<id>-YYYY-MM-DD-HH-MM, an instance's and an
	// Aurora cluster's alike; their ARNs differ by resource type.
	source, kind := InstanceID, "snapshot"
	if aurora {
		source, kind = ClusterID, "cluster-snapshot"
	}
	rep.SnapshotID = fmt.Sprintf("rds:%s-%s-03-00", source, rep.SnapshotDate)
	rep.SnapshotARN = fmt.Sprintf("arn:aws:rds:%s:%s:%s:%s", c.Region, c.Account, kind, rep.SnapshotID)
	databases, err := sampledb.UserDatabases(ctx, pool)
	if err != nil {
		return err
	}
	rep.SnapshotSchemas, rep.Databases = map[string]string{}, map[string]map[string]int64{}
	for _, db := range databases {
		rep.SnapshotSchemas[db] = "snap_" + strings.ReplaceAll(rep.SnapshotDate, "-", "") + "_" + db
	}
	rep.SnapshotDB = rep.SnapshotSchemas[sampledb.Database]
	if err := dropOldSnapshots(ctx, pool, slices.Collect(maps.Values(rep.SnapshotSchemas))); err != nil {
		return err
	}
	var total int64
	tables := 0
	for _, db := range databases {
		schema := rep.SnapshotSchemas[db]
		if err := sampledb.Snapshot(ctx, pool, db, schema); err != nil {
			return err
		}
		if rep.Databases[db], err = sampledb.Counts(ctx, pool, schema); err != nil {
			return err
		}
		total += sum(rep.Databases[db])
		tables += len(rep.Databases[db])
	}
	rep.SourceCounts = rep.Databases[sampledb.Database]
	detail := fmt.Sprintf("%s rows in %d tables", thousands(total), tables)
	if len(databases) > 1 {
		detail += fmt.Sprintf(" of %d databases (%s)", len(databases), strings.Join(databases, ", "))
	}
	p.stage("snapshot "+rep.SnapshotID, detail, time.Since(t))
	return nil
}

// dropOldSnapshots removes earlier nights' snapshot schemas: like RDS automated
// snapshots, only the newest is kept once a new one is taken.
func dropOldSnapshots(ctx context.Context, db *sql.DB, keep []string) error {
	rows, err := db.QueryContext(ctx, `SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'snap\_%'`)
	if err != nil {
		return fmt.Errorf("list snapshot schemas: %w", err)
	}
	var old []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			rows.Close()
			return fmt.Errorf("list snapshot schemas: %w", err)
		}
		if !slices.Contains(keep, s) {
			old = append(old, s)
		}
	}
	rows.Close()
	sort.Strings(old)
	for _, s := range old {
		if err := sampledb.DropSchema(ctx, db, s); err != nil {
			return err
		}
	}
	return nil
}

// removeNight deletes what a killed run left of one night in the lake: the export
// folder, the night's partitions and its task tokens.
func removeNight(ctx context.Context, client *s3.Client, bucket string, night time.Time) (int, error) {
	date := night.Format("2006-01-02")
	exportID := InstanceID + "-" + date + "-03-00"
	var keys []s3types.ObjectIdentifier
	for _, prefix := range []string{deploy.ExportPrefix + exportID + "/", deploy.DataPrefix, deploy.CallbackPrefix} {
		pg := s3.NewListObjectsV2Paginator(client, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
		for pg.HasMorePages() {
			page, err := pg.NextPage(ctx)
			if err != nil {
				return 0, fmt.Errorf("list s3://%s/%s: %w", bucket, prefix, err)
			}
			for _, o := range page.Contents {
				k := aws.ToString(o.Key)
				if prefix == deploy.DataPrefix && !strings.Contains(k, "/snapshot_date="+date+"/") {
					continue
				}
				keys = append(keys, s3types.ObjectIdentifier{Key: o.Key})
			}
		}
	}
	total := len(keys)
	for len(keys) > 0 {
		n := min(len(keys), 1000)
		out, err := client.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String(bucket), Delete: &s3types.Delete{Objects: keys[:n], Quiet: aws.Bool(true)}})
		if err != nil {
			return 0, fmt.Errorf("remove the unfinished night %s: %w", date, err)
		}
		if len(out.Errors) > 0 {
			return 0, fmt.Errorf("remove the unfinished night %s: %s: %s", date, aws.ToString(out.Errors[0].Key), aws.ToString(out.Errors[0].Message))
		}
		keys = keys[n:]
	}
	return total, nil
}

func loadState(home string) (state, error) {
	var st state
	b, err := os.ReadFile(filepath.Join(home, "state.json"))
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("read demo state: %w", err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("read %s: %w (delete the file to start the nights over)", filepath.Join(home, "state.json"), err)
	}
	return st, nil
}

func saveState(home string, st state) error {
	b, _ := json.MarshalIndent(st, "", "  ")
	tmp := filepath.Join(home, "state.json.tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("save demo state: %w", err)
	}
	return os.Rename(tmp, filepath.Join(home, "state.json"))
}

func saveNotifications(home string, ns []offline.Notification) error {
	if len(ns) == 0 {
		return nil
	}
	f, err := os.OpenFile(filepath.Join(home, "notifications.jsonl"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("save notifications: %w", err)
	}
	defer f.Close()
	enc := json.NewEncoder(f)
	for _, n := range ns {
		if err := enc.Encode(n); err != nil {
			return fmt.Errorf("save notifications: %w", err)
		}
	}
	return nil
}

// lockHome takes an exclusive lock on home for this process's lifetime; the kernel
// releases it if the process dies, so a crashed run never blocks the next.
func lockHome(home string) (func(), error) {
	path := filepath.Join(home, "lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, &HomeInUseError{Home: home}
	}
	_ = f.Truncate(0)
	fmt.Fprintf(f, "%d\n", os.Getpid())
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
