package archive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/parquet-go/parquet-go"
)

// VerificationError says a batch's object in S3 does not hold the rows read from
// the table: nothing of that batch was deleted, and the run stopped.
type VerificationError struct {
	Schema, Table string
	Batch         int
	Object        string
	// WantRows and WantChecksum were read from the table; GotRows and GotChecksum
	// from the object (Missing: there was none).
	WantRows, GotRows         int64
	WantChecksum, GotChecksum string
	Missing                   bool
	// Cause is why the object could not be read as Parquet, if it could not.
	Cause error
}

func (e *VerificationError) Error() string {
	what := fmt.Sprintf("holds %d rows with key checksum %s, the table gave %d rows with checksum %s", e.GotRows, e.GotChecksum, e.WantRows, e.WantChecksum)
	switch {
	case e.Missing:
		what = "is missing"
	case e.Cause != nil:
		what = "is not a readable Parquet file of the table: " + e.Cause.Error()
	}
	return fmt.Sprintf("archive %s.%s: batch %d: object %s %s; nothing of this batch was deleted", e.Schema, e.Table, e.Batch, e.Object, what)
}

func (e *VerificationError) Unwrap() error { return e.Cause }

// objectKeys is what an object holds: its row count, key checksum and, when asked
// for, the set of its keys' hashes.
type objectKeys struct {
	sum    checksum
	bytes  int64
	hashes map[uint64]struct{}
}

// errMissing is an object that is not there.
var errMissing = errors.New("object missing")

// readObjectKeys downloads bucket/key into a temporary file (a batch never sits in
// memory whole) and reads its key columns.
func readObjectKeys(ctx context.Context, api S3API, tmpDir, bucket, key string, k *keyColumns, withSet bool) (objectKeys, error) {
	var res objectKeys
	out, err := api.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		var nsk *s3types.NoSuchKey
		if errors.As(err, &nsk) {
			return res, errMissing
		}
		return res, fmt.Errorf("read back s3://%s/%s: %w", bucket, key, err)
	}
	defer out.Body.Close()
	f, err := os.CreateTemp(tmpDir, "archive-verify-*.parquet")
	if err != nil {
		return res, fmt.Errorf("read back s3://%s/%s: %w", bucket, key, err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	n, err := io.Copy(f, out.Body)
	if err != nil {
		return res, fmt.Errorf("read back s3://%s/%s: %w", bucket, key, err)
	}
	res.bytes = n
	if withSet {
		res.hashes = map[uint64]struct{}{}
	}
	err = scanKeys(f, n, k, func(h uint64) {
		res.sum.add(h)
		if withSet {
			res.hashes[h] = struct{}{}
		}
	})
	if err != nil {
		return res, &parquetError{err}
	}
	return res, nil
}

// parquetError is an object that is not a Parquet file of the table.
type parquetError struct{ err error }

func (e *parquetError) Error() string { return e.err.Error() }
func (e *parquetError) Unwrap() error { return e.err }

// scanKeys reads the key columns of a Parquet file, one row group at a time, and
// calls fn with each row's key hash.
func scanKeys(r io.ReaderAt, size int64, k *keyColumns, fn func(uint64)) (err error) {
	defer func() {
		// A corrupt file can make the decoder panic: that is a failed verification.
		if p := recover(); p != nil {
			err = fmt.Errorf("decode: %v", p)
		}
	}()
	f, err := parquet.OpenFile(r, size)
	if err != nil {
		return err
	}
	idx := make([]int, len(k.names))
	for i, name := range k.names {
		leaf, ok := f.Schema().Lookup(name)
		if !ok {
			return fmt.Errorf("no column %q", name)
		}
		idx[i] = leaf.ColumnIndex
	}
	var total int64
	cols := make([][]parquet.Value, len(idx))
	row := make([]parquet.Value, len(idx))
	var h keyHasher
	for _, rg := range f.RowGroups() {
		n := rg.NumRows()
		chunks := rg.ColumnChunks()
		for i, ci := range idx {
			vals, err := readChunk(chunks[ci], cols[i][:0])
			if err != nil {
				return fmt.Errorf("column %q: %w", k.names[i], err)
			}
			if int64(len(vals)) != n {
				return fmt.Errorf("column %q has %d values in a row group of %d rows", k.names[i], len(vals), n)
			}
			cols[i] = vals
		}
		for r := range int(n) {
			for i := range idx {
				row[i] = cols[i][r]
			}
			fn(h.hash(row))
		}
		total += n
	}
	if total != f.NumRows() {
		return fmt.Errorf("row groups hold %d rows, the footer says %d", total, f.NumRows())
	}
	return nil
}

// readChunk appends a column chunk's values, cloned out of the pages' buffers.
func readChunk(cc parquet.ColumnChunk, vals []parquet.Value) ([]parquet.Value, error) {
	pages := cc.Pages()
	defer pages.Close()
	buf := make([]parquet.Value, 1024)
	for {
		p, err := pages.ReadPage()
		if err == io.EOF {
			return vals, nil
		}
		if err != nil {
			return vals, err
		}
		vr := p.Values()
		for {
			n, err := vr.ReadValues(buf)
			for _, v := range buf[:n] {
				vals = append(vals, v.Clone())
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				parquet.Release(p)
				return vals, err
			}
		}
		parquet.Release(p)
	}
}
