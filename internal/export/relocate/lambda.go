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
}

// Handler serves the relocate Lambda: Defaults carries the bucket, prefixes, KMS key,
// retention and tuning from the environment; each request names the export and date.
type Handler struct {
	API      API
	Defaults Options
	Log      *slog.Logger
}

// Handle relocates one export and returns the summary as the Lambda result, whose
// crawl targets drive one Glue crawl each (and whose problems name the tables RDS did
// not export whole). Glue names are lower case, and the state machine names each
// crawler "snaplake-<database>", so the databases it returns are lower-cased (a MySQL
// schema "Shop" is crawled by "snaplake-shop"), as Run already does for Crawl.
func (h Handler) Handle(ctx context.Context, req Request) (Summary, error) {
	opts := h.Defaults
	opts.ExportID = req.ExportID
	opts.SnapshotDate = req.SnapshotDate
	sum, err := Run(ctx, h.API, opts, h.Log)
	if err == nil {
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
				if name != "" && !strings.HasPrefix(name, "_") && !strings.HasPrefix(name, ".") && !slices.Contains(c.Tables, name) {
					sum.Crawl[i].Tables = append(sum.Crawl[i].Tables, name)
				}
			}
		}
		slices.Sort(sum.Crawl[i].Tables)
	}
	return nil
}
