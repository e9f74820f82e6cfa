package localcli

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/snaplake/snaplake/internal/local/demo"
	"github.com/snaplake/snaplake/internal/opscli"
)

// Demo runs one night of the pipeline offline: `snaplake demo [--rows N] [--home DIR]`.
func Demo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	ingest := len(args) > 0 && args[0] == "ingest"
	if ingest {
		args = args[1:]
	}
	federate := !ingest && len(args) > 0 && args[0] == "federate"
	if federate {
		args = args[1:]
	}
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	rows := fs.Int("rows", demo.DefaultRows, "rows in the sample database when it is first created")
	home := fs.String("home", "", "directory kept between runs: MariaDB and S3 data, catalog (default $SNAPLAKE_HOME, else "+defaultHomeDir+")")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: snaplake demo [--rows N] [--home DIR]
       snaplake demo ingest [--rows N] [--home DIR]
       snaplake demo federate [--home DIR]

Runs one night of the snaplake pipeline on this machine: a local MariaDB with a sample
warehouse database, a nightly snapshot, the RDS-EVENT-0091 event on a local bus, the
deployed state machine run by aws-local-stepfunctions with the real Lambda handlers, an
export to a local S3 server, relocation, a crawl, and an analyst query. Each run is
the next night: a new snapshot_date partition appears.

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
ignores it, so that make demo passes the same flags to every demo.

`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return opscli.ErrUsage
	}
	if fs.NArg() > 0 || *rows < 1 {
		fs.Usage()
		return opscli.ErrUsage
	}
	opts := demo.Options{Home: resolveHome(*home), Rows: *rows, Out: stdout}
	if federate {
		_, err := demo.RunFederate(ctx, opts)
		return err
	}
	if ingest {
		_, err := demo.RunIngest(ctx, opts)
		return err
	}
	_, err := demo.Run(ctx, opts)
	return err
}
