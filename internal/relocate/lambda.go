package relocate

import (
	"context"
	"log/slog"
	"slices"
	"strings"

	"github.com/snaplake/snaplake/internal/awserr"
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
	for i, db := range sum.Databases {
		sum.Databases[i] = strings.ToLower(db)
	}
	sum.Databases = slices.Compact(sum.Databases)
	// Throttling after the SDK's retries fails the state as ThrottledError, which the
	// state machine retries with a long backoff.
	return sum, awserr.Surface(err)
}
