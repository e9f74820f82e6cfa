package localcli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/snaplake/snaplake/internal/local/glue"
	"github.com/snaplake/snaplake/internal/local/lake"
	"github.com/snaplake/snaplake/internal/opscli"
)

const queryUsage = `Usage: snaplake query [--home DIR] [--format table|csv|json] "SQL"

Runs SQL (DuckDB dialect) over the local lake with Athena's names:
  SELECT count(*) FROM warehouse.file_downloads
  WHERE snapshot_date = (SELECT max(snapshot_date) FROM "warehouse"."file_downloads$partitions")

Flags:
`

// Query answers SQL from the catalog at <home>/catalog.json and the objects the
// local S3 server keeps under <home>/s3.
func Query(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fset := flag.NewFlagSet("query", flag.ContinueOnError)
	fset.SetOutput(stderr)
	home := fset.String("home", "", "local lake directory (default $SNAPLAKE_HOME, else "+defaultHomeDir+")")
	format := fset.String("format", "table", "output format: "+strings.Join(lake.Formats, ", "))
	fset.Usage = func() {
		fmt.Fprint(fset.Output(), queryUsage)
		fset.PrintDefaults()
	}
	if err := fset.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return opscli.ErrUsage // the flag package printed the mistake and the usage
	}
	if !slices.Contains(lake.Formats, *format) {
		fmt.Fprintf(stderr, "snaplake query: unknown format %q\n\n", *format)
		fset.Usage()
		return opscli.ErrUsage
	}
	sql := strings.TrimSpace(strings.Join(fset.Args(), " "))
	if sql == "" {
		fmt.Fprint(stderr, "snaplake query: no SQL given\n\n")
		fset.Usage()
		return opscli.ErrUsage
	}

	dir := resolveHome(*home)
	catalogPath := filepath.Join(dir, "catalog.json")
	if _, err := os.Stat(catalogPath); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("no local lake in %s: run `snaplake demo` (or `make demo`) first", dir)
	} else if err != nil {
		return fmt.Errorf("open local lake in %s: %w", dir, err)
	}
	cat, err := glue.OpenCatalog(catalogPath)
	if err != nil {
		return fmt.Errorf("open local lake in %s: %w", dir, err)
	}
	l := &lake.Lake{Catalog: cat, Root: filepath.Join(dir, "s3")}
	res, err := l.Query(ctx, sql)
	if err != nil {
		return err
	}
	return lake.Format(stdout, res, *format)
}
