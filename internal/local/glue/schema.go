package glue

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/deprecated"
	"github.com/parquet-go/parquet-go/format"
)

// s3ReaderAt reads an object by ranged GetObject calls, so that reading a Parquet
// footer costs a few kilobytes however large the file is.
type s3ReaderAt struct {
	ctx         context.Context
	client      S3API
	bucket, key string
	size        int64
}

func (r *s3ReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("read s3://%s/%s at %d: negative offset", r.bucket, r.key, off)
	}
	if off >= r.size {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	end := min(off+int64(len(p)), r.size) // exclusive
	out, err := r.client.GetObject(r.ctx, &s3.GetObjectInput{
		Bucket: aws.String(r.bucket),
		Key:    aws.String(r.key),
		Range:  aws.String(fmt.Sprintf("bytes=%d-%d", off, end-1)),
	})
	if err != nil {
		return 0, fmt.Errorf("get s3://%s/%s bytes %d-%d: %w", r.bucket, r.key, off, end-1, err)
	}
	defer out.Body.Close()
	n, err := io.ReadFull(out.Body, p[:end-off])
	if err != nil {
		return n, fmt.Errorf("read s3://%s/%s bytes %d-%d: %w", r.bucket, r.key, off, end-1, err)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// footerReadSize is read in one request from the end of a file: footers of tables
// with a few dozen columns fit, so most schemas cost two GetObject calls.
const footerReadSize = 64 << 10

// readSchema reads the Parquet footer of one object and returns its columns as Glue types.
func readSchema(ctx context.Context, client S3API, bucket, key string, size int64) ([]Column, error) {
	r := &s3ReaderAt{ctx: ctx, client: client, bucket: bucket, key: key, size: size}
	f, err := parquet.OpenFile(r, size,
		parquet.SkipPageIndex(true),
		parquet.SkipBloomFilters(true),
		parquet.OptimisticRead(true),
		parquet.ReadBufferSize(footerReadSize),
	)
	if err != nil {
		return nil, fmt.Errorf("read Parquet footer of s3://%s/%s: %w", bucket, key, err)
	}
	cols, err := columnsOf(f.Metadata().Schema)
	if err != nil {
		return nil, fmt.Errorf("map Parquet schema of s3://%s/%s: %w", bucket, key, err)
	}
	return cols, nil
}

// columnsOf maps the flattened (depth-first) Parquet schema to top-level Glue columns.
// Column names are lower-cased, as the Glue crawler does.
func columnsOf(elems []format.SchemaElement) ([]Column, error) {
	if len(elems) == 0 {
		return nil, fmt.Errorf("empty schema")
	}
	n, _ := elems[0].NumChildren.Get()
	next := 1
	cols := make([]Column, 0, n)
	for range n {
		typ, after, err := glueTypeAt(elems, next)
		if err != nil {
			return nil, err
		}
		cols = append(cols, Column{Name: strings.ToLower(elems[next].Name), Type: typ})
		next = after
	}
	return cols, nil
}

// glueTypeAt returns the Glue type of the element at i and the index after its subtree.
func glueTypeAt(elems []format.SchemaElement, i int) (string, int, error) {
	if i >= len(elems) {
		return "", i, fmt.Errorf("schema ends inside a group")
	}
	e := elems[i]
	var typ string
	next := i + 1
	if n, ok := e.NumChildren.Get(); ok && n > 0 {
		var err error
		if typ, next, err = groupType(elems, i, int(n)); err != nil {
			return "", next, err
		}
	} else {
		t, ok := e.Type.Get()
		if !ok {
			return "", next, fmt.Errorf("column %s has neither a type nor children", e.Name)
		}
		typ = leafType(e, t)
	}
	if rep, _ := e.RepetitionType.Get(); rep == format.Repeated {
		typ = "array<" + typ + ">" // a repeated field outside a LIST annotation
	}
	return typ, next, nil
}

func groupType(elems []format.SchemaElement, i, n int) (string, int, error) {
	e := elems[i]
	conv, hasConv := e.ConvertedType.Get()
	_, isList := e.LogicalType.Value.(*format.ListType)
	_, isMap := e.LogicalType.Value.(*format.MapType)
	isList = isList || (hasConv && conv == deprecated.List)
	isMap = isMap || (hasConv && (conv == deprecated.Map || conv == deprecated.MapKeyValue))

	if (isList || isMap) && n == 1 && i+1 < len(elems) {
		// LIST and MAP wrap their items in one repeated group (or, in old 2-level
		// lists, one repeated leaf).
		item := elems[i+1]
		cn, _ := item.NumChildren.Get()
		switch {
		case isMap && cn == 2:
			k, after, err := glueTypeAt(elems, i+2)
			if err != nil {
				return "", after, err
			}
			v, after, err := glueTypeAt(elems, after)
			if err != nil {
				return "", after, err
			}
			return "map<" + k + "," + v + ">", after, nil
		case isList && cn == 1:
			typ, after, err := glueTypeAt(elems, i+2)
			if err != nil {
				return "", after, err
			}
			return "array<" + typ + ">", after, nil
		case isList:
			// The repeated item itself is the element; glueTypeAt wraps it in array<>.
			return glueTypeAt(elems, i+1)
		}
	}

	fields := make([]string, 0, n)
	next := i + 1
	for range n {
		if next >= len(elems) {
			return "", next, fmt.Errorf("schema ends inside group %s", e.Name)
		}
		name := strings.ToLower(elems[next].Name)
		typ, after, err := glueTypeAt(elems, next)
		if err != nil {
			return "", after, err
		}
		fields = append(fields, name+":"+typ)
		next = after
	}
	return "struct<" + strings.Join(fields, ",") + ">", next, nil
}

// leafType maps a primitive column: the logical type first, then the legacy converted
// type older writers (and Spark, which writes RDS exports) still set, then the physical type.
func leafType(e format.SchemaElement, physical format.Type) string {
	switch lt := e.LogicalType.Value.(type) {
	case *format.StringType, *format.EnumType, *format.JsonType, *format.UUIDType:
		return "string"
	case *format.BsonType:
		return "binary"
	case *format.DecimalType:
		return fmt.Sprintf("decimal(%d,%d)", lt.Precision, lt.Scale)
	case *format.DateType:
		return "date"
	case *format.TimestampType:
		return "timestamp"
	case *format.IntType:
		return intType(int(lt.BitWidth), lt.IsSigned)
	}
	if conv, ok := e.ConvertedType.Get(); ok {
		switch conv {
		case deprecated.UTF8, deprecated.Enum, deprecated.Json:
			return "string"
		case deprecated.Bson:
			return "binary"
		case deprecated.Decimal:
			p, _ := e.Precision.Get()
			s, _ := e.Scale.Get()
			return fmt.Sprintf("decimal(%d,%d)", p, s)
		case deprecated.Date:
			return "date"
		case deprecated.TimestampMillis, deprecated.TimestampMicros:
			return "timestamp"
		case deprecated.Int8:
			return intType(8, true)
		case deprecated.Int16:
			return intType(16, true)
		case deprecated.Int32:
			return intType(32, true)
		case deprecated.Int64:
			return intType(64, true)
		case deprecated.Uint8:
			return intType(8, false)
		case deprecated.Uint16:
			return intType(16, false)
		case deprecated.Uint32:
			return intType(32, false)
		case deprecated.Uint64:
			return intType(64, false)
		}
	}
	switch physical {
	case format.Boolean:
		return "boolean"
	case format.Int32:
		return "int"
	case format.Int64:
		return "bigint"
	case format.Int96:
		return "timestamp" // legacy Impala/Spark timestamps
	case format.Float:
		return "float"
	case format.Double:
		return "double"
	default:
		return "binary"
	}
}

// intType widens unsigned integers to the next signed type, so every value fits
// (MySQL's INT UNSIGNED needs a bigint in Athena).
func intType(bits int, signed bool) string {
	if !signed {
		bits *= 2
	}
	switch {
	case bits <= 8:
		return "tinyint"
	case bits <= 16:
		return "smallint"
	case bits <= 32:
		return "int"
	case bits <= 64:
		return "bigint"
	default:
		return "decimal(20,0)"
	}
}
