package opscli

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/snaplake/snaplake/internal/archive"
	"github.com/snaplake/snaplake/internal/config"
	"github.com/snaplake/snaplake/internal/deploy"
)

const archiveGroupUsage = `Usage: snaplake archive sizes --mysql-dsn DSN [--config FILE] [--top N] [--format text|json]

Retention archiving moves the rows of production tables older than a retention period
(the archive section of snaplake.yaml) into the lake, verifies them in S3, then
deletes them in gentle batches. sizes lists the largest tables and what the config
would reclaim; 'snaplake archive sizes -h' says more.
`

const archiveSizesUsage = `Usage: snaplake archive sizes --mysql-dsn DSN [--config FILE] [--top N] [--at RFC3339] [--format text|json]

Lists the --top largest tables of the server (default 20; data and index, from
information_schema: rows are InnoDB's estimate), largest first. With --config, it
also lists every table of the config's archive section, with its retention, its
cutoff (the start of the UTC day that far back from --at, default now), the rows a
run would archive (SELECT COUNT(*) ... WHERE column < cutoff: exact) and the bytes
they hold (estimated: their share of the table's data and index).

It changes nothing. The count reads every row older than the cutoff, and the whole
table when the column has no index: on a busy source, give the DSN of a read replica.
A configured table that cannot be counted (no such table or column) is listed with
the reason, and the command exits with status 1.

Deleting rows frees pages inside the table's tablespace, which new rows reuse: the
files shrink only after OPTIMIZE TABLE, and RDS never reduces allocated storage.

--mysql-dsn (or ` + MySQLDSNEnv + `) uses go-sql-driver/mysql syntax:
  user:password@tcp(host:3306)/
`

// Archive is `snaplake archive sizes`.
func Archive(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return run(ctx, NewArchiveCommand(), args, stdout, stderr)
}

// NewArchiveCommand is `snaplake archive sizes`. (`archive run` joins it with the
// archiving engine.)
func NewArchiveCommand() *cobra.Command {
	return NewGroup("archive", "retention archiving: the largest tables and what the config would reclaim", archiveGroupUsage,
		newArchiveSizesCommand())
}

// archiveSizesOptions are the flags of `snaplake archive sizes`.
type archiveSizesOptions struct {
	dsn, configPath, atText, format string
	top                             int
}

func newArchiveSizesCommand() *cobra.Command {
	var o archiveSizesOptions
	c := &cobra.Command{
		Use:   "sizes --mysql-dsn DSN [--config FILE] [--top N] [--at RFC3339] [--format text|json]",
		Short: "the largest tables, and the rows and bytes the archive section would reclaim",
		Long:  archiveSizesUsage,
		Args:  NoArgs,
		RunE:  func(c *cobra.Command, _ []string) error { return o.run(c) },
	}
	fs := c.Flags()
	fs.StringVar(&o.dsn, "mysql-dsn", "", "the source database, go-sql-driver/mysql DSN (default $"+MySQLDSNEnv+")")
	fs.StringVar(&o.configPath, "config", "", "snaplake.yaml: also count what its archive section would reclaim")
	fs.IntVar(&o.top, "top", 20, "how many of the largest tables to list")
	fs.StringVar(&o.atText, "at", "", "the time the cutoffs are computed from, RFC 3339 (default now)")
	fs.StringVar(&o.format, "format", "text", "output: text or json")
	return c
}

// sizesReport is the JSON output of `snaplake archive sizes`.
type sizesReport struct {
	At     time.Time           `json:"at"`
	Tables []archive.TableSize `json:"tables"`
	// ReclaimRows and ReclaimBytes total the configured tables' Archive.
	ReclaimRows  int64 `json:"reclaimRows"`
	ReclaimBytes int64 `json:"reclaimBytes"`
}

func (o archiveSizesOptions) run(cmd *cobra.Command) error {
	ctx, stdout := cmd.Context(), cmd.OutOrStdout()
	if o.dsn == "" {
		o.dsn = os.Getenv(MySQLDSNEnv)
	}
	at := time.Now()
	switch {
	case o.dsn == "":
		return UsageError(cmd, "missing --mysql-dsn (or %s)", MySQLDSNEnv)
	case o.top < 1:
		return UsageError(cmd, "--top must be at least 1, got %d", o.top)
	case o.format != "text" && o.format != "json":
		return UsageError(cmd, "--format must be text or json, got %q", o.format)
	case o.atText != "":
		var err error
		if at, err = time.Parse(time.RFC3339, o.atText); err != nil {
			return UsageError(cmd, "--at %q is not an RFC 3339 time such as 2026-03-30T08:00:00+02:00", o.atText)
		}
	}
	var c *archive.Config
	if o.configPath != "" {
		var err error
		// The loader's errors name the file and line; the other sections are not
		// this command's.
		if c, err = config.LoadSection[archive.Config](o.configPath, deploy.SectionArchive); err != nil {
			return err
		}
	}
	db, err := sql.Open("mysql", o.dsn)
	if err != nil {
		return fmt.Errorf("--mysql-dsn: %w", err)
	}
	defer db.Close()
	tables, err := archive.Sizes(ctx, db, c, at, o.top)
	if err != nil {
		return err
	}
	rep := sizesReport{At: at.UTC(), Tables: tables}
	failed := 0
	for _, t := range tables {
		if a := t.Archive; a != nil {
			rep.ReclaimRows += a.Rows
			rep.ReclaimBytes += a.Bytes
			if a.Error != "" {
				failed++
			}
		}
	}
	if o.format == "json" {
		out, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(stdout, "%s\n", out); err != nil {
			return err
		}
	} else if err := printSizes(stdout, rep, c != nil); err != nil {
		return err
	}
	if failed > 0 {
		return fmt.Errorf("%s: %d configured tables cannot be counted (see their lines)", o.configPath, failed)
	}
	return nil
}

// printSizes writes the report as a table, sizes in IEC units.
func printSizes(w io.Writer, rep sizesReport, withConfig bool) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	cells := []string{"TABLE", "ROWS (EST.)", "DATA", "INDEX", "TOTAL", "FREE"}
	if withConfig {
		cells = append(cells, "RETENTION", "CUTOFF", "ROWS TO ARCHIVE", "RECLAIM (EST.)")
	}
	fmt.Fprintln(tw, strings.Join(cells, "\t"))
	for _, t := range rep.Tables {
		cells = []string{t.Table, thousands(t.Rows), iecBytes(t.DataBytes), iecBytes(t.IndexBytes), iecBytes(t.TotalBytes), iecBytes(t.FreeBytes)}
		switch a := t.Archive; {
		case a != nil && a.Error != "":
			cells = append(cells, a.Retention, a.Cutoff, "-", "-")
		case a != nil:
			cells = append(cells, a.Retention, a.Cutoff, thousands(a.Rows), iecBytes(a.Bytes))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, t := range rep.Tables {
		if t.Archive != nil && t.Archive.Error != "" {
			fmt.Fprintf(w, "%s: cannot be archived: %s\n", t.Table, t.Archive.Error)
		}
	}
	if withConfig {
		_, err := fmt.Fprintf(w, "the archive section would move %s rows, about %s, out of production (cutoffs from %s)\n",
			thousands(rep.ReclaimRows), iecBytes(rep.ReclaimBytes), rep.At.Format(time.RFC3339))
		return err
	}
	return nil
}

// thousands writes n with thousands separators: 1,204,332.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if neg {
		s = "-" + s
	}
	return s
}

// iecBytes writes n in IEC units: 512 B, 16.0 KiB, 1.5 GiB.
func iecBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
