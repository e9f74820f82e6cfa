// Command snaplake is the operator's CLI: relocate an export by hand, run the whole
// pipeline offline (demo) and query the local lake. It only dispatches: the operator
// commands live in internal/opscli, kept free of the offline environment by the
// boundary test; demo and query in internal/local/localcli.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/snaplake/snaplake/internal/local/localcli"
	"github.com/snaplake/snaplake/internal/opscli"
)

const usage = `snaplake: nightly RDS snapshot -> S3 Parquet -> Athena, without servers.

Usage:
  snaplake relocate --bucket B --export-id ID --snapshot-date YYYY-MM-DD [flags]
  snaplake doctor [--stack NAME]   check a deployed stack in a real account
  snaplake ingest plan --config FILE --set daily|frequent [--at RFC3339] [--mysql-dsn DSN] [--bucket B]
                                   what a run of a table set loads, as JSON
  snaplake ingest run --config FILE --set daily|frequent --mysql-dsn DSN --bucket B
                                   run a table set by hand with the Go loader
  snaplake federate publish|subscribe|status --config FILE --bucket B [...]
                                   publish Redshift tables to S3 once; subscribe warehouses
  snaplake grants plan --config FILE [--current FILE] [--account ID]
                                   the Lake Formation grants to add and revoke
  snaplake config validate FILE    check a snaplake.yaml: FILE:LINE:COLUMN: FIELD: REASON
  snaplake config schema           print the JSON Schema of snaplake.yaml (for editors)
  snaplake demo [ingest] [--rows N] [--home DIR]
  snaplake query [--home DIR] [--format table|csv|json] [--as ROLE [--config FILE] [--policy FILE]] "SQL"

Run 'snaplake <command> -h' for a command's flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "relocate":
		err = opscli.Relocate(ctx, args[1:], stdout, stderr)
	case "doctor":
		err = opscli.Doctor(ctx, args[1:], stdout, stderr)
	case "ingest":
		err = opscli.Ingest(ctx, args[1:], stdout, stderr)
	case "federate":
		err = opscli.Federate(ctx, args[1:], stdout, stderr)
	case "grants":
		err = opscli.Grants(ctx, args[1:], stdout, stderr)
	case "config":
		err = opscli.Config(ctx, args[1:], stdout, stderr)
	case "demo":
		err = localcli.Demo(ctx, args[1:], stdout, stderr)
	case "query":
		err = localcli.Query(ctx, args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "snaplake: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, opscli.ErrUsage):
		return 2
	case ctx.Err() != nil:
		fmt.Fprintf(stderr, "snaplake %s: interrupted (%v); the processes it started are stopped\n", args[0], err)
		return 130
	default:
		fmt.Fprintf(stderr, "snaplake %s: %v\n", args[0], err)
		return 1
	}
}
