package localcli

import (
	"context"
	"io"

	"github.com/spf13/cobra"

	"github.com/snaplake/snaplake/internal/local/demo"
	"github.com/snaplake/snaplake/internal/opscli"
)

// Demo runs one night of the pipeline offline: `snaplake demo [ingest|federate|archive] [--rows N] [--home DIR]`.
func Demo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := NewDemoCommand()
	c.CompletionOptions.DisableDefaultCmd = true
	_, err := opscli.Execute(ctx, c, args, stdout, stderr)
	return err
}

const demoUsage = `Usage: snaplake demo [--rows N] [--home DIR] [--aurora]
       snaplake demo ingest [--rows N] [--home DIR]
       snaplake demo federate [--home DIR] [--format text|json]
       snaplake demo archive [--rows N] [--home DIR]

Runs one night of the snaplake pipeline on this machine: a local MariaDB with a sample
warehouse database, a nightly snapshot, the RDS-EVENT-0091 event on a local bus, the
deployed state machine run by aws-local-stepfunctions with the real Lambda handlers, an
export to a local S3 server, relocation, a crawl, and an analyst query. Each run is
the next night: a new snapshot_date partition appears. With --aurora the night's
snapshot is an Aurora MySQL cluster's automated cluster snapshot instead, announced
by RDS-EVENT-0169 and exported by its cluster-snapshot ARN.

snaplake demo ingest runs the config-driven ingestion against the same home: the
config <home>/snaplake.yaml is uploaded, the Scheduler's clock fires the daily set at
02:00 and the frequent set at 09:15 (Europe/Berlin) of the next workday, each run
executes the ingest state machine (reconfigure, the Glue job played by the Go loader,
finish, crawl, grants), and role-limited queries show the Lake Formation grants.

snaplake demo federate runs the Federator against the same home: PostgreSQL (kept in
<home>/postgres) stands in for a transform warehouse and two reporting warehouses,
configured by <home>/federate.yaml. It publishes and subscribes, changes the
transform's rows, publishes and subscribes again, and shows that both subscribers hold
what the transform holds (checksums) and federate status. It accepts --rows and
ignores it, so that make demo passes the same flags to every demo. Each table's
line says in words what was done; --format json prints the JSON lines of
'snaplake federate' instead.

snaplake demo archive runs retention archiving against the same home: the archive
section of <home>/snaplake.yaml (added when missing: warehouse.file_downloads older
than two years) is uploaded, an archiving MySQL user with SELECT and DELETE on that
table only is created, the archive's state machine runs with its real functions (the
rows written to archive/ as Parquet, read back and checked, then deleted in small
batches), and the archive is queried beside the snapshot.
`

// demoOptions are the flags the three demos share.
type demoOptions struct {
	rows int
	home string
}

func (o *demoOptions) addFlags(c *cobra.Command) {
	c.Flags().IntVar(&o.rows, "rows", demo.DefaultRows, "rows in the sample database when it is first created")
	c.Flags().StringVar(&o.home, "home", "", "directory kept between runs: MariaDB and S3 data, catalog (default $SNAPLAKE_HOME, else "+defaultHomeDir+")")
}

// options checks the flags and makes the demo's options.
func (o *demoOptions) options(c *cobra.Command, args []string) (demo.Options, error) {
	if len(args) > 0 {
		return demo.Options{}, opscli.UsageError(c, "unexpected argument %q", args[0])
	}
	if o.rows < 1 {
		return demo.Options{}, opscli.UsageError(c, "--rows must be at least 1, got %d", o.rows)
	}
	return demo.Options{Home: resolveHome(o.home), Rows: o.rows, Out: c.OutOrStdout()}, nil
}

// NewDemoCommand is `snaplake demo`, with `demo ingest` and `demo federate` below it.
func NewDemoCommand() *cobra.Command {
	var aurora bool
	c := demoCommand("demo [--rows N] [--home DIR] [--aurora]", "run a night of the pipeline offline, on this machine",
		func(_ *cobra.Command, opts *demo.Options) error { opts.Aurora = aurora; return nil },
		func(ctx context.Context, opts demo.Options) error { _, err := demo.Run(ctx, opts); return err })
	c.Flags().BoolVar(&aurora, "aurora", false, "an Aurora night: export the automated cluster snapshot of the Aurora cluster "+demo.ClusterID+" (RDS-EVENT-0169) instead of an instance's")
	c.AddCommand(newDemoIngestCommand(), newDemoFederateCommand(), newDemoArchiveCommand())
	return c
}

// demoCommand is one demo command: its flags, checked into demo.Options, then run.
// check, when not nil, completes or refuses the options first.
func demoCommand(use, short string, check func(*cobra.Command, *demo.Options) error, run func(context.Context, demo.Options) error) *cobra.Command {
	var o demoOptions
	c := &cobra.Command{
		Use:   use,
		Short: short,
		Long:  demoUsage,
		Args:  cobra.ArbitraryArgs,
		RunE: func(c *cobra.Command, args []string) error {
			opts, err := o.options(c, args)
			if err != nil {
				return err
			}
			if check != nil {
				if err := check(c, &opts); err != nil {
					return err
				}
			}
			return run(c.Context(), opts)
		},
	}
	o.addFlags(c)
	return c
}

func newDemoIngestCommand() *cobra.Command {
	return demoCommand("ingest [--rows N] [--home DIR]", "run the config-driven ingestion offline, against the same home", nil,
		func(ctx context.Context, opts demo.Options) error { _, err := demo.RunIngest(ctx, opts); return err })
}

func newDemoArchiveCommand() *cobra.Command {
	return demoCommand("archive [--rows N] [--home DIR]", "run retention archiving offline, against the same home", nil,
		func(ctx context.Context, opts demo.Options) error { _, err := demo.RunArchive(ctx, opts); return err })
}

func newDemoFederateCommand() *cobra.Command {
	var format string
	check := func(c *cobra.Command, opts *demo.Options) error {
		if format != demo.FormatText && format != demo.FormatJSON {
			return opscli.UsageError(c, "--format must be %s or %s, got %q", demo.FormatText, demo.FormatJSON, format)
		}
		opts.Format = format
		return nil
	}
	c := demoCommand("federate [--home DIR] [--format text|json]", "run the Federator offline: publish, subscribe, status", check,
		func(ctx context.Context, opts demo.Options) error { _, err := demo.RunFederate(ctx, opts); return err })
	c.Flags().StringVar(&format, "format", demo.FormatText, "each table's line: text, or json (the JSON lines of 'snaplake federate')")
	return c
}
