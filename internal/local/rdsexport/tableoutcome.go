package rdsexport

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TableOutcome is how the export of one table ends, as RDS reports it in the
// export's export_tables_info file: the stand-in exports every table whole, and
// tests need the tables RDS skips (a column named with a space, a row near 2 GB) or
// fails (a BLOB near 500 MB) to check that the pipeline reports them.
type TableOutcome struct {
	// Status replaces COMPLETE in the table's perTableStatus entry. AWS does not
	// document the values; tests choose them ("FAILED", "SKIPPED").
	Status string
	// Warning becomes the entry's warningMessage.
	Warning string
	// NoFiles drops the table's data files and _SUCCESS marker, and zeroes its
	// statistics, as for a table RDS skipped: nothing of it reaches the bucket.
	NoFiles bool
}

// TableOutcomes gives the outcome of the table target ("db.table") in the export
// exportID; ok false leaves the table COMPLETE.
type TableOutcomes func(exportID, target string) (outcome TableOutcome, ok bool)

// WithTableOutcomes is a test hook: set the S3API it returns as Service.S3. It passes
// every call to api, except that the export_tables_info files report the tables
// outcomes names as it says, and the files of a table with NoFiles are not written.
// It works on what the export writes, so the export itself stays the one RDS-like path.
func WithTableOutcomes(api S3API, outcomes TableOutcomes) S3API {
	return &outcomeS3{api: api, outcomes: outcomes}
}

type outcomeS3 struct {
	api      S3API
	outcomes TableOutcomes
}

func (o *outcomeS3) PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	key := aws.ToString(in.Key)
	if id, ok := tablesInfoExportID(path.Base(key)); ok {
		return o.putTablesInfo(ctx, in, id, optFns)
	}
	if id, target, ok := tableOfKey(key); ok {
		if out, ok := o.outcomes(id, target); ok && out.NoFiles {
			return &s3.PutObjectOutput{}, nil
		}
	}
	return o.api.PutObject(ctx, in, optFns...)
}

func (o *outcomeS3) putTablesInfo(ctx context.Context, in *s3.PutObjectInput, exportID string, optFns []func(*s3.Options)) (*s3.PutObjectOutput, error) {
	key := aws.ToString(in.Key)
	var body []byte
	if in.Body != nil {
		b, err := io.ReadAll(in.Body)
		if err != nil {
			return nil, fmt.Errorf("apply table outcomes to %s: read body: %w", key, err)
		}
		body = b
	}
	var info TablesInfo
	if err := json.Unmarshal(body, &info); err != nil {
		return nil, fmt.Errorf("apply table outcomes to %s: decode: %w", key, err)
	}
	for i := range info.PerTableStatus {
		st := &info.PerTableStatus[i]
		out, ok := o.outcomes(exportID, st.Target)
		if !ok {
			continue
		}
		if out.Status != "" {
			st.Status = out.Status
		}
		st.WarningMessage = out.Warning
		if out.NoFiles {
			st.SizeGB = 0
			st.TableStatistics = TableStatistics{}
		}
	}
	rewritten, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("apply table outcomes to %s: encode: %w", key, err)
	}
	put := *in
	put.Body = bytes.NewReader(rewritten)
	put.ContentLength = aws.Int64(int64(len(rewritten)))
	return o.api.PutObject(ctx, &put, optFns...)
}

// tablesInfoExportID reads the export id out of export_tables_info_<id>_from_<n>_to_<m>.json.
func tablesInfoExportID(name string) (string, bool) {
	rest, ok := strings.CutPrefix(name, "export_tables_info_")
	if !ok || !strings.HasSuffix(rest, ".json") {
		return "", false
	}
	i := strings.LastIndex(rest, "_from_")
	if i <= 0 {
		return "", false
	}
	return rest[:i], true
}

// tableOfKey finds <export-id>/<db>/<db>.<table>/<file> in a key of the export.
func tableOfKey(key string) (exportID, target string, ok bool) {
	segs := strings.Split(key, "/")
	for i := 0; i+3 < len(segs); i++ {
		db, table := segs[i+1], segs[i+2]
		if db != "" && strings.HasPrefix(table, db+".") && len(table) > len(db)+1 {
			return segs[i], table, true
		}
	}
	return "", "", false
}
