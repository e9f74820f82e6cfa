package opscli

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	_ "github.com/go-sql-driver/mysql"
	"github.com/spf13/cobra"

	"github.com/snaplake/snaplake/internal/config"
	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/ingest"
	"github.com/snaplake/snaplake/internal/ingest/grants"
)

// MySQLDSNEnv is read when --mysql-dsn is not given.
const MySQLDSNEnv = "SNAPLAKE_MYSQL_DSN"

const ingestUsage = `Usage: snaplake ingest plan --config FILE --set daily|frequent [--at RFC3339] [--mysql-dsn DSN] [--bucket B]
       snaplake ingest run --config FILE --set daily|frequent --mysql-dsn DSN --bucket B (see snaplake ingest run -h)

Prints, as JSON, the plan of one run of a table set: whether the set is due at --at
(default now) in the config's time zone, and for each table its lake name, mode
(incremental or full), watermark column and starting value, destination
raw/<database>/<table>/, crawler include path, and its columns with their lake
names (table and column names alike are lower-cased, every character other than
a-z, 0-9 and _ becomes _, and a name not starting with a letter gets t_), and
how it is read: in key ranges, in parallel, when information_schema estimates
more rows than rowsPerRange (default 1000000) and its key is an integer, or in
one range, with the reason. It reads the config's ingest
section and the source database's information_schema, and changes nothing.

What the config names that the source does not have is listed under "refused"
with its file:line, and the command fails: a table or column of the set's
tables, and, for the access rules' snapshot tables ("snapshots:<db>.<table>"),
a table that database <db> lacks (or that the RDS export skips) or a column
its table lacks (snapshot_date is the snapshot's own), or a column list under
"snapshots:<db>.*", which the grants refuse. A database <db> the
user cannot see is listed under "unchecked", with a warning, and fails nothing.

The lake's watermarks are not read: every incremental table starts from the
beginning ("from": null, "replace": true). Without --bucket the crawler include
paths are left out.

--mysql-dsn (or ` + MySQLDSNEnv + `) uses go-sql-driver/mysql syntax:
  user:password@tcp(host:3306)/
`

const ingestGroupUsage = `Usage: snaplake ingest plan --config FILE --set daily|frequent [--at RFC3339] [--mysql-dsn DSN] [--bucket B]
       snaplake ingest run --config FILE --set daily|frequent --mysql-dsn DSN --bucket B [--catalog]
       snaplake ingest reset --table DATABASE.TABLE --bucket B [--dry-run] [--format text|json]

plan prints what a run of a table set loads, as JSON, and changes nothing; run runs a
table set by hand with the Go loader; reset makes the next run load one table from the
beginning. 'snaplake ingest plan -h', 'snaplake ingest run -h' and
'snaplake ingest reset -h' say more.
`

// Ingest is `snaplake ingest plan|run|reset`: the reconfigure Lambda's planning, a
// run of a table set by hand, and the reset of one table.
func Ingest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return run(ctx, NewIngestCommand(), args, stdout, stderr)
}

// NewIngestCommand is `snaplake ingest plan|run|reset`.
func NewIngestCommand() *cobra.Command {
	return NewGroup("ingest", "plan or run a table set of the config-driven ingestion, or reset a table", ingestGroupUsage,
		newIngestPlanCommand(), newIngestRunCommand(), newIngestResetCommand())
}

// ingestPlanOptions are the flags of `snaplake ingest plan`.
type ingestPlanOptions struct {
	configPath, set, atText, dsn, bucket string
}

func newIngestPlanCommand() *cobra.Command {
	var o ingestPlanOptions
	c := &cobra.Command{
		Use:   "plan --config FILE --set daily|frequent [--at RFC3339] [--mysql-dsn DSN] [--bucket B]",
		Short: "what a run of a table set loads, as JSON",
		Long:  ingestUsage,
		Args:  NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return o.run(c)
		},
	}
	fs := c.Flags()
	fs.StringVar(&o.configPath, "config", "", "snaplake.yaml with the ingest section (required)")
	fs.StringVar(&o.set, "set", "", "the table set: daily or frequent (required)")
	fs.StringVar(&o.atText, "at", "", "the run's time, RFC 3339 (default now)")
	fs.StringVar(&o.dsn, "mysql-dsn", "", "the source database, go-sql-driver/mysql DSN (default $"+MySQLDSNEnv+")")
	fs.StringVar(&o.bucket, "bucket", "", "the lake bucket, for the crawler include paths")
	return c
}

func (o ingestPlanOptions) run(cmd *cobra.Command) error {
	ctx, stdout, stderr := cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr()
	configPath, set, dsn, bucket := o.configPath, o.set, o.dsn, o.bucket
	if dsn == "" {
		dsn = os.Getenv(MySQLDSNEnv)
	}
	at := time.Now()
	switch {
	case configPath == "":
		return UsageError(cmd, "missing --config")
	case set != ingest.SetDaily && set != ingest.SetFrequent:
		return UsageError(cmd, "--set must be %s or %s, got %q", ingest.SetDaily, ingest.SetFrequent, set)
	case dsn == "":
		return UsageError(cmd, "missing --mysql-dsn (or %s)", MySQLDSNEnv)
	case o.atText != "":
		var err error
		if at, err = time.Parse(time.RFC3339, o.atText); err != nil {
			return UsageError(cmd, "--at %q is not an RFC 3339 time such as 2026-03-30T08:00:00+02:00", o.atText)
		}
	}

	c, err := loadIngest(configPath)
	if err != nil {
		return err
	}
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return fmt.Errorf("--mysql-dsn: %w", err)
	}
	defer db.Close()
	q := &ingest.CountingQueryer{Q: db}
	start := time.Now()
	tables, err := ingest.Discover(ctx, q, c.Source.Database)
	if err != nil {
		return err
	}
	plan, err := ingest.PlanRun(*c, set, at, tables, ingest.State{})
	if err != nil {
		return fmt.Errorf("%s: %w", configPath, err)
	}
	if bucket != "" {
		plan = plan.InBucket(bucket)
	}
	// The snapshot tables the access rules name are checked against their source
	// databases too: otherwise a misspelled column is found only by the grants run,
	// in AWS. They fail no load, so only the plan does this, not a run.
	if dbs := c.SnapshotDatabases(); len(dbs) > 0 {
		sources, err := ingest.DiscoverSnapshotSources(ctx, q, dbs)
		if err != nil {
			return err
		}
		refused, unchecked := c.SnapshotAccess(sources)
		plan.Refused = append(plan.Refused, snapshotRulesRefused(*c)...)
		plan.Refused = append(plan.Refused, refused...)
		plan.Unchecked = unchecked
	}
	out, err := json.MarshalIndent(plan, "", "  ")
	if err != nil {
		return fmt.Errorf("encode the plan: %w", err)
	}
	if _, err := fmt.Fprintf(stdout, "%s\n", out); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	for _, u := range plan.Unchecked {
		log.Warn("snapshot table not checked", "table", u.Source, "config", u.Config, "reason", u.Reason)
	}
	log.Info("ingest plan", "set", set, "due", plan.Due,
		"tables", len(plan.Tables), "skipped", len(plan.Skipped), "refused", len(plan.Refused), "renamed", len(plan.Renamed),
		"unchecked", len(plan.Unchecked), "metadata_queries", q.Queries(), "took", time.Since(start).Round(time.Millisecond))
	// A run would load the others and fail these, notified: so does the command.
	// A refused snapshot table fails no load but its grant.
	if len(plan.Refused) > 0 {
		reasons := make([]string, len(plan.Refused))
		loads, snapshots := 0, 0
		for i, r := range plan.Refused {
			reasons[i] = r.Reason
			if _, _, snap := ingest.SnapshotTable(r.Source); snap {
				snapshots++
			} else {
				loads++
			}
		}
		var what []string
		if loads > 0 {
			what = append(what, fmt.Sprintf("%d tables of set %s would fail", loads, set))
		}
		if snapshots > 0 {
			what = append(what, fmt.Sprintf("the grants on %d snapshot tables would fail", snapshots))
		}
		return fmt.Errorf("%s: %s, as the config names what the source does not have: %s", configPath, strings.Join(what, " and "), strings.Join(reasons, "; "))
	}
	return nil
}

// snapshotRulesRefused are the refusals of grants.DesiredIn about snapshot tables
// (a column list under "snapshots:<db>.*", where every table is granted whole),
// as refused tables: the grants run refuses the whole config for them, and
// config validate, which checks a section in itself, lets them pass. Roles are
// taken as written: the account that would turn a name into an ARN is unknown here.
func snapshotRulesRefused(c ingest.Config) []ingest.RefusedTable {
	// Only the rules' snapshot tables are given to DesiredIn, so that a refusal of
	// an ingested table (checked as before) cannot hide one of a snapshot table;
	// index maps a rule back to its place in the file.
	var access []ingest.Access
	var index []int
	for i, a := range c.Access {
		snap := ingest.Access{Role: a.Role, Columns: map[string][]string{}}
		for _, t := range a.Tables {
			if _, _, ok := ingest.SnapshotTable(t); ok {
				snap.Tables = append(snap.Tables, t)
			}
		}
		for t, cols := range a.Columns {
			if _, _, ok := ingest.SnapshotTable(t); ok {
				snap.Columns[t] = cols
			}
		}
		if len(snap.Tables) > 0 || len(snap.Columns) > 0 {
			access, index = append(access, snap), append(index, i)
		}
	}
	dbs := grants.Databases{Ingest: ingest.CatalogDatabase(c.Source.Database), Snapshot: func(source string) string { return source }}
	_, err := grants.DesiredIn(dbs, access, ingest.NormalizeName, strings.TrimSpace)
	var ae *grants.AccessError
	if !errors.As(err, &ae) {
		return nil
	}
	ae.Index = index[ae.Index]
	fe := c.ErrorAt(ae.FieldPath(), "%s", ae.Reason())
	r := ingest.RefusedTable{Source: ae.Table, Reason: fe.Error()}
	if fe.File != "" {
		r.Config = fe.File + ":" + strconv.Itoa(fe.Line)
	}
	return []ingest.RefusedTable{r}
}

// loadIngest reads the ingest section of the config file, checked by the loader
// (naming the line of each problem) as a run reads it: the other sections are not
// this command's.
func loadIngest(path string) (*ingest.Config, error) {
	return config.LoadSection[ingest.Config](path, deploy.SectionIngest)
}
