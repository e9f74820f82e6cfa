// Package demo runs one night of the snaplake pipeline on this machine: a real
// MariaDB, a real S3 server, the deployed state machine and Lambda code, then a query.
package demo

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/local/contract"
	"github.com/snaplake/snaplake/internal/local/iam"
	"github.com/snaplake/snaplake/internal/local/offline"
	"github.com/snaplake/snaplake/internal/local/sampledb"
	"github.com/snaplake/snaplake/internal/local/stepfunctions"
)

// deployed is the offline deployment the demo runs: the contract resolved from the
// synthesized template (its bucket, functions, roles and crawlers), read when a night
// first needs it rather than at the start of every CLI command.
var deployed = sync.OnceValue(contract.MustLoad)

// lakeBucket is the lake bucket's name as the offline contract resolves it.
func lakeBucket() string { return deployed().Bucket }

// Crawler crawls the sample database.
var Crawler = deploy.CrawlerName(sampledb.Database)

// InstanceID is the demo's RDS instance: one of the contract's instances.
const InstanceID = "snaplake-demo"

// ClusterID is the demo's Aurora MySQL cluster, whose automated cluster snapshot an
// Aurora night exports (Options.Aurora): one of the contract's clusters.
const ClusterID = "snaplake-aurora"

// DefaultRows is the default size of the sample database.
const DefaultRows = 1_000_000

// Options configure a run.
type Options struct {
	Home        string // state between runs: MariaDB data, S3 data, catalog
	Rows        int    // sample database size when it is created
	Out         io.Writer
	NodeModules string // aws-local-stepfunctions; empty: found by the runner
	// Format is how RunFederate prints each table's result: FormatText (the default,
	// also when empty) says it in words; FormatJSON prints the JSON line of
	// `snaplake federate publish|subscribe`.
	Format string

	// Test hooks.
	FailExport   string // non-empty: this night's export fails with this reason (RDS-EVENT-0159)
	DeliverTwice bool   // the snapshot-created event arrives twice, with two event ids

	// Aurora plays an Aurora night: the snapshot is the automated cluster snapshot
	// of ClusterID, announced by RDS-EVENT-0169 ("RDS DB Cluster Snapshot Event"),
	// exported by its cluster-snapshot ARN.
	Aurora bool

	// Contract is the deployment the night runs as (nil: the offline contract,
	// contract.Load's), for a night of another stack's settings, such as one that
	// catalogs new databases at runtime (contract.LoadRuntimeCatalog).
	Contract *contract.Contract
	// Config, when set, is the snaplake.yaml uploaded to the lake before the night
	// starts, as an operator does; empty leaves the lake's config as it is.
	Config string
	// BeforeSnapshot, when set, changes the source (the MariaDB server, every
	// database) after the day's activity and before the night's snapshot: a schema
	// created during the day is in that night's snapshot.
	BeforeSnapshot func(ctx context.Context, source *sql.DB) error
}

// contract is the deployment the night runs as.
func (o Options) contract() *contract.Contract {
	if o.Contract != nil {
		return o.Contract
	}
	return deployed()
}

// The formats of RunFederate's table lines.
const (
	FormatText = "text"
	FormatJSON = "json"
)

// Report says what a run did.
type Report struct {
	SnapshotID   string
	SnapshotDate string
	SnapshotARN  string
	SnapshotDB   string           // the MariaDB schema holding the snapshot of the sample database
	SourceCounts map[string]int64 // rows per table of the sample database in the snapshot
	// SnapshotSchemas are the MariaDB schemas holding the snapshot, by source database.
	SnapshotSchemas map[string]string
	// Databases are the rows per table of every database in the snapshot (an
	// instance's snapshot holds them all), by source database; the sample's is
	// SourceCounts.
	Databases     map[string]map[string]int64
	Executions    []stepfunctions.Result
	Notifications []offline.Notification
	// Allowed is every call the night's roles were allowed, as the IAM authority
	// recorded it (the reviewed permission list is made from it).
	Allowed []iam.Grant
	// Denied is every call of the night's roles that IAM refused.
	Denied []iam.Grant
	// CreatedCrawlers are the crawlers the night created: those of databases the
	// stack was not deployed with, on a stack that catalogs them at runtime.
	CreatedCrawlers []string
	ExportsRun      int
	Stages          []Stage
}

// Stage is one timed step of the run.
type Stage struct {
	Name     string
	Detail   string
	Duration time.Duration
}

// HomeInUseError says another demo runs with the same home.
type HomeInUseError struct{ Home string }

func (e *HomeInUseError) Error() string {
	return fmt.Sprintf("another snaplake demo is running with home %s: wait for it to finish, or pass another --home", e.Home)
}

// ExecutionFailedError says the nightly execution did not succeed.
type ExecutionFailedError struct{ Status, Name, Cause string }

func (e *ExecutionFailedError) Error() string {
	return fmt.Sprintf("nightly execution %s: %s: %s", e.Status, e.Name, e.Cause)
}

// Run runs one night. Every process it starts is stopped before it returns, also on
// error or when ctx is canceled.
func Run(ctx context.Context, opts Options) (rep Report, err error) {
	s, err := openSession(&opts, "snaplake demo", &rep)
	if err != nil {
		return rep, err
	}
	defer s.close()
	home, log, p, total := s.home, s.log, s.p, s.start

	c := opts.contract()
	srv, err := startServers(ctx, home, c.Bucket, log, p)
	if err != nil {
		return rep, err
	}
	defer srv.stop()

	// The source database and tonight's activity.
	exists, err := ensureWarehouse(ctx, srv.pool, opts.Rows, p)
	if err != nil {
		return rep, err
	}
	night, nightEnded, err := beginNight(ctx, home, srv.client, c.Bucket, p)
	if err != nil {
		return rep, err
	}
	if exists {
		if err := addDay(ctx, srv.pool, night, p); err != nil {
			return rep, err
		}
	}
	if opts.BeforeSnapshot != nil {
		if err := opts.BeforeSnapshot(ctx, srv.pool); err != nil {
			return rep, fmt.Errorf("change the source before the snapshot: %w", err)
		}
	}
	if err := uploadConfig(ctx, srv.client, c.Bucket, opts.Config, p); err != nil {
		return rep, err
	}
	if err := takeSnapshot(ctx, srv.pool, c, night, opts.Aurora, &rep, p); err != nil {
		return rep, err
	}

	d, err := deployNight(home, opts, srv, log, p, rep, night)
	if err != nil {
		return rep, err
	}
	defer d.close()
	if err := d.announce(ctx, rep, night, opts.DeliverTwice, p); err != nil {
		return rep, err
	}
	if err := d.wait(ctx, &rep, log); err != nil {
		return rep, err
	}
	if err := nightEnded(); err != nil {
		return rep, err
	}
	if err := saveNotifications(home, rep.Notifications); err != nil {
		return rep, err
	}
	p.outcome(rep, home)
	p.permissions(rep, rep.Denied)
	if failed := firstFailure(rep.Executions); failed != nil {
		return rep, failed
	}

	glueDB := sampleGlueDatabase(c)
	if err := p.analyst(ctx, d.catalog, home, glueDB); err != nil {
		return rep, err
	}
	p.line("done in %.1fs. Try: snaplake query \"SELECT * FROM %s.projects LIMIT 5\"  (run make demo again for the next night)", time.Since(total).Seconds(), glueDB)
	return rep, nil
}

// session is what every demo holds while it runs: its home, locked against another
// demo; its JSON log; its printer, recording stages into rep.
type session struct {
	home  string
	log   *slog.Logger
	p     *printer
	start time.Time
	close func()
}

// openSession fills opts' defaults, locks the home, opens the log and prints the
// demo's first line.
func openSession(opts *Options, title string, rep *Report) (*session, error) {
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	if opts.Rows <= 0 {
		opts.Rows = DefaultRows
	}
	home, unlock, err := openHome(opts.Home)
	if err != nil {
		return nil, err
	}
	log, logFile, err := openLog(home)
	if err != nil {
		unlock()
		return nil, err
	}
	s := &session{home: home, log: log, p: &printer{out: opts.Out, rep: rep}, start: time.Now(),
		close: func() { logFile.Close(); unlock() }}
	s.p.line("%s: home %s (log: %s)", title, home, filepath.Join(home, "demo.log"))
	return s, nil
}

// openLog opens the run's JSON log, home/demo.log, appended to across runs.
func openLog(home string) (*slog.Logger, io.Closer, error) {
	logFile, err := os.OpenFile(filepath.Join(home, "demo.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("open log: %w", err)
	}
	log := slog.New(slog.NewJSONHandler(logFile, &slog.HandlerOptions{Level: slog.LevelInfo}))
	// The MySQL driver's own messages (a connection cut by Ctrl-C) go to the log too.
	_ = mysql.SetLogger(mysqlLogger{log})
	return log, logFile, nil
}

type mysqlLogger struct{ log *slog.Logger }

func (l mysqlLogger) Print(v ...any) { l.log.Warn("mysql driver", "message", fmt.Sprint(v...)) }
