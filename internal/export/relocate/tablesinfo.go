package relocate

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// The Summary travels to Step Functions, whose payloads are limited to 256 KiB: an
// export where every one of 1,000 tables failed with a long warning must still fit,
// next to the crawl targets. The complete list goes to the log.
const (
	maxProblems     = 100
	maxWarningBytes = 200
)

// tableStatusComplete is the perTableStatus status of a table RDS exported whole.
const tableStatusComplete = "COMPLETE"

// TablesInfoError means an export_tables_info file at the export root is not what RDS
// writes: Run cannot tell which tables the export lacks, so it stops before deleting
// anything.
type TablesInfoError struct {
	Bucket, Key string
	Err         error
}

func (e *TablesInfoError) Error() string {
	return fmt.Sprintf("read RDS tables info s3://%s/%s: %v", e.Bucket, e.Key, e.Err)
}

func (e *TablesInfoError) Unwrap() error { return e.Err }

// tableStatus is the part of a perTableStatus entry Run reads. The field names are
// those public parsers of real exports read; AWS does not document them.
type tableStatus struct {
	Target         string `json:"target"`
	Status         string `json:"status"`
	WarningMessage string `json:"warningMessage"`
}

func (st tableStatus) problem() bool {
	return st.Status != tableStatusComplete || st.WarningMessage != ""
}

// readTablesInfo reads every export_tables_info file the listing found and records the
// tables RDS did not export whole in the summary.
func (r *run) readTablesInfo(ctx context.Context) error {
	if len(r.tablesInfo) == 0 {
		// RDS writes them with every export; without them nothing says which tables
		// are missing, which an operator should know.
		r.log.Warn("relocate found no export_tables_info file: tables RDS skipped or failed cannot be reported",
			slog.String("prefix", r.exportPrefix))
		return nil
	}
	found := make([][]tableStatus, len(r.tablesInfo))
	err := forEach(ctx, len(r.tablesInfo), r.o.Concurrency, func(ctx context.Context, i int) error {
		sts, err := r.readTablesInfoFile(ctx, r.tablesInfo[i])
		found[i] = sts
		return err
	})
	if err != nil {
		return err
	}
	var problems []TableProblem
	tables := 0
	for i, sts := range found {
		tables += len(sts)
		for _, st := range sts {
			if !st.problem() || r.excludedTarget(st.Target) {
				continue
			}
			r.log.Warn("relocate: RDS did not export table whole", slog.String("table", st.Target),
				slog.String("status", st.Status), slog.String("warning", st.WarningMessage), slog.String("tablesInfo", r.tablesInfo[i]))
			problems = append(problems, TableProblem{Table: st.Target, Status: st.Status, Warning: truncateUTF8(st.WarningMessage, maxWarningBytes)})
		}
	}
	slices.SortFunc(problems, func(a, b TableProblem) int {
		return cmp.Or(strings.Compare(a.Table, b.Table), strings.Compare(a.Status, b.Status), strings.Compare(a.Warning, b.Warning))
	})
	if len(problems) > maxProblems {
		r.sum.ProblemsOmitted = len(problems) - maxProblems
		problems = problems[:maxProblems]
	}
	if problems != nil {
		r.sum.Problems = problems
	}
	r.log.Info("relocate read tables info", slog.Int("files", len(r.tablesInfo)), slog.Int("tables", tables),
		slog.Int("problemTables", len(r.sum.Problems)+r.sum.ProblemsOmitted))
	return nil
}

func (r *run) readTablesInfoFile(ctx context.Context, key string) ([]tableStatus, error) {
	out, err := r.api.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(r.o.Bucket), Key: aws.String(key)})
	if err != nil {
		return nil, fmt.Errorf("read RDS tables info s3://%s/%s: %w", r.o.Bucket, key, r.s3err(err))
	}
	defer out.Body.Close()
	sts, err := decodeTablesInfo(out.Body)
	if err != nil {
		return nil, &TablesInfoError{Bucket: r.o.Bucket, Key: key, Err: err}
	}
	return sts, nil
}

// decodeTablesInfo reads {"perTableStatus": [...], ...} one entry at a time: with the
// column mappings of every table, the file of a large export runs to megabytes, and
// only three fields of each entry matter here.
func decodeTablesInfo(body io.Reader) ([]tableStatus, error) {
	dec := json.NewDecoder(body)
	if err := expectDelim(dec, '{', "the file"); err != nil {
		return nil, err
	}
	var sts []tableStatus
	found := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("decode JSON: %w", err)
		}
		if key, _ := tok.(string); key != "perTableStatus" {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return nil, fmt.Errorf("decode JSON: %w", err)
			}
			continue
		}
		if found {
			return nil, errors.New("perTableStatus appears twice")
		}
		found = true
		if err := expectDelim(dec, '[', "perTableStatus"); err != nil {
			return nil, err
		}
		for i := 0; dec.More(); i++ {
			var st tableStatus
			if err := dec.Decode(&st); err != nil {
				return nil, fmt.Errorf("decode perTableStatus[%d]: %w", i, err)
			}
			if st.Target == "" {
				return nil, fmt.Errorf("perTableStatus[%d] has no target", i)
			}
			sts = append(sts, st)
		}
		if _, err := dec.Token(); err != nil { // ']'
			return nil, fmt.Errorf("decode JSON: %w", err)
		}
	}
	if _, err := dec.Token(); err != nil { // '}'
		return nil, fmt.Errorf("decode JSON: %w", err)
	}
	if !found {
		return nil, errors.New("no perTableStatus")
	}
	return sts, nil
}

func expectDelim(dec *json.Decoder, want json.Delim, what string) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("decode JSON: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		kind := "an object"
		if want == '[' {
			kind = "an array"
		}
		return fmt.Errorf("%s is not %s (found %v)", what, kind, tok)
	}
	return nil
}

// truncateUTF8 cuts s to at most n bytes at a character boundary, marking the cut.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const mark = "…"
	cut := n - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}
