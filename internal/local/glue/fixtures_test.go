package glue

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/parquet-go/parquet-go"
)

const lakeBucket = "snaplake-lake"

// customerRow is shaped like an RDS export of a MySQL customer table.
type customerRow struct {
	ID        int64     `parquet:"id"`
	Name      string    `parquet:"name"`
	Email     *string   `parquet:"email,optional"`
	Balance   int64     `parquet:"balance,decimal(2:12)"`
	CreatedAt time.Time `parquet:"created_at,timestamp(microsecond)"`
	Active    bool      `parquet:"active"`
}

type addressRow struct {
	ID         int64  `parquet:"id"`
	CustomerID int32  `parquet:"customer_id"`
	City       string `parquet:"city"`
	Lat        float64
}

// newS3 starts a real in-process S3 server (gofakes3) and returns a client for it
// with the lake bucket created.
func newS3(t testing.TB) *s3.Client {
	t.Helper()
	srv := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	t.Cleanup(srv.Close)
	client := s3.New(s3.Options{
		BaseEndpoint:               aws.String(srv.URL),
		UsePathStyle:               true,
		Region:                     "us-east-1",
		Credentials:                credentials.NewStaticCredentialsProvider("test", "test", ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
	if _, err := client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(lakeBucket)}); err != nil {
		t.Fatalf("create bucket %s: %v", lakeBucket, err)
	}
	return client
}

func put(t testing.TB, client *s3.Client, key string, body []byte) {
	t.Helper()
	_, err := client.PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String(lakeBucket), Key: aws.String(key), Body: bytes.NewReader(body),
	})
	if err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

func del(t *testing.T, client *s3.Client, key string) {
	t.Helper()
	_, err := client.DeleteObject(context.Background(), &s3.DeleteObjectInput{
		Bucket: aws.String(lakeBucket), Key: aws.String(key),
	})
	if err != nil {
		t.Fatalf("delete %s: %v", key, err)
	}
}

// parquetFile writes rows as a gzip-compressed Parquet file, as RDS exports are.
func parquetFile[T any](t testing.TB, rows []T) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[T](&buf, parquet.Compression(&parquet.Gzip))
	if _, err := w.Write(rows); err != nil {
		t.Fatalf("write parquet rows: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("close parquet writer: %v", err)
	}
	return buf.Bytes()
}

func customers(n int) []customerRow {
	rows := make([]customerRow, n)
	for i := range rows {
		rows[i] = customerRow{
			ID: int64(i + 1), Name: "customer", Balance: int64(i) * 1050,
			CreatedAt: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC), Active: i%2 == 0,
		}
		if i%2 == 0 {
			email := "c@example.com"
			rows[i].Email = &email
		}
	}
	return rows
}

// published collects what the Service publishes.
type published struct {
	mu   sync.Mutex
	list [][]byte
}

func (e *published) publish(_ context.Context, ev []byte) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.list = append(e.list, append([]byte(nil), ev...))
	return nil
}

func (e *published) all() [][]byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([][]byte(nil), e.list...)
}

func (e *published) last(t *testing.T) map[string]any {
	t.Helper()
	all := e.all()
	if len(all) == 0 {
		t.Fatal("no event published")
	}
	var m map[string]any
	if err := json.Unmarshal(all[len(all)-1], &m); err != nil {
		t.Fatalf("decode event %s: %v", all[len(all)-1], err)
	}
	return m
}
