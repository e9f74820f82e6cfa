package relocate

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/snaplake/snaplake/internal/aws/awserr"
)

// Request is the Lambda input the state machine sends after the export completes.
type Request struct {
	ExportID     string `json:"exportId"`
	SnapshotDate string `json:"snapshotDate"`
	// Exclude are the databases and tables the start function read from
	// snaplake.yaml's export section for this night (see Options.Exclude).
	Exclude []string `json:"exclude"`
}

// Handler serves the relocate Lambda: Defaults carries the bucket, prefixes, KMS key,
// retention and tuning from the environment; each request names the export and date.
type Handler struct {
	API      API
	Defaults Options
	// Crawled are the databases the stack deployed a crawler for (deploy.EnvCrawledDatabases;
	// empty: every database has one). Another database the night exported is
	// relocated, left out of the crawl and reported as a problem of the night.
	Crawled []string
	Log     *slog.Logger
}

// StatusNotCataloged is the TableProblem status of a database that was exported and
// relocated but has no crawler in this deployment.
const StatusNotCataloged = "NOT_CATALOGED"

// Handle relocates one export and returns the summary as the Lambda result, whose
// crawl targets drive one Glue crawl each (and whose problems name the tables RDS did
// not export whole). Glue names are lower case, and the state machine names each
// crawler "snaplake-<database>", so the databases it returns are lower-cased (a MySQL
// schema "Shop" is crawled by "snaplake-shop"), as Run already does for Crawl.
func (h Handler) Handle(ctx context.Context, req Request) (Summary, error) {
	opts := h.Defaults
	opts.ExportID = req.ExportID
	opts.SnapshotDate = req.SnapshotDate
	opts.Exclude = req.Exclude
	sum, err := Run(ctx, h.API, opts, h.Log)
	if err == nil {
		h.dropUncrawled(ctx, &sum)
		err = h.addTableFolders(ctx, opts, &sum)
	}
	for i, db := range sum.Databases {
		sum.Databases[i] = strings.ToLower(db)
	}
	sum.Databases = slices.Compact(sum.Databases)
	// Throttling after the SDK's retries fails the state as ThrottledError, which the
	// state machine retries with a long backoff.
	return sum, awserr.Surface(err)
}

// dropUncrawled takes the databases without a deployed crawler out of the crawl
// targets: StartCrawler would fail the night on them. Each is reported instead, so
// the night's warning says how to catalog it.
func (h Handler) dropUncrawled(ctx context.Context, sum *Summary) {
	if len(h.Crawled) == 0 {
		return
	}
	kept := sum.Crawl[:0]
	for _, c := range sum.Crawl {
		if slices.ContainsFunc(h.Crawled, func(db string) bool { return strings.EqualFold(db, c.Database) }) {
			kept = append(kept, c)
			continue
		}
		log := h.Log
		if log == nil {
			log = slog.Default()
		}
		log.WarnContext(ctx, "database relocated but not crawled: the stack has no crawler for it", "database", c.Folder)
		sum.Problems = append(sum.Problems, TableProblem{Table: c.Folder, Status: StatusNotCataloged,
			Warning: "exported and relocated to " + cmp.Or(h.Defaults.DestPrefix, DefaultDestPrefix) + c.Folder +
				"/, but not cataloged: this deployment has no Glue database and crawler for it (add it to snaplake:databases and deploy)"})
	}
	sum.Crawl = kept
}

// addTableFolders adds to each crawl target the table folders already under its
// database folder that this export did not write (a table RDS skipped tonight, one
// dropped from the source but still within retention). Every table folder is then an
// include path of the crawler, so no table of the catalog depends on how Glue treats
// tables outside a crawler's include paths, which AWS does not document.
func (h Handler) addTableFolders(ctx context.Context, o Options, sum *Summary) error {
	dest := cmp.Or(o.DestPrefix, DefaultDestPrefix)
	for i, c := range sum.Crawl {
		prefix := dest + c.Folder + "/"
		p := s3.NewListObjectsV2Paginator(h.API, &s3.ListObjectsV2Input{Bucket: aws.String(o.Bucket), Prefix: aws.String(prefix), Delimiter: aws.String("/")})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return fmt.Errorf("list the table folders under s3://%s/%s: %w", o.Bucket, prefix, err)
			}
			for _, cp := range page.CommonPrefixes {
				name := strings.TrimSuffix(strings.TrimPrefix(aws.ToString(cp.Prefix), prefix), "/")
				// An excluded table's folder from before its exclusion is not crawled.
				if name != "" && !strings.HasPrefix(name, "_") && !strings.HasPrefix(name, ".") && !slices.Contains(c.Tables, name) &&
					!excludes(o.Exclude, c.Folder, name) {
					sum.Crawl[i].Tables = append(sum.Crawl[i].Tables, name)
				}
			}
		}
		slices.Sort(sum.Crawl[i].Tables)
	}
	return nil
}
