package redshift

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/snaplake/snaplake/internal/local/postgres"
	"github.com/snaplake/snaplake/internal/local/postgres/postgrestest"
	"github.com/snaplake/snaplake/internal/local/s3server"
)

const testBucket = "warehouse-test"

// pgEnv is one PostgreSQL server with a source and a target database, and an S3
// server with a bucket: the subtests of TestPostgresWarehouse share them.
type pgEnv struct {
	server         *postgres.Server
	s3             *s3.Client
	source, target *Postgres
}

func TestPostgresWarehouse(t *testing.T) {
	ctx := context.Background()
	env := &pgEnv{server: postgrestest.Start(t)}
	fake, err := s3server.StartFake()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Stop)
	if err := fake.CreateBucket(ctx, testBucket); err != nil {
		t.Fatal(err)
	}
	env.s3 = fake.Client()
	for _, db := range []string{"source", "target"} {
		if err := env.server.CreateDatabase(db); err != nil {
			t.Fatal(err)
		}
	}
	if env.source, err = OpenPostgres(ctx, env.server.DSN("source"), env.s3, WithPartRows(1000)); err != nil {
		t.Fatal(err)
	}
	if env.target, err = OpenPostgres(ctx, env.server.DSN("target"), env.s3); err != nil {
		t.Fatal(err)
	}

	t.Run("RoundTrip", env.testRoundTrip)
	t.Run("EmptyResult", env.testEmptyResult)
	t.Run("Stats", env.testStats)
	t.Run("MissingTable", env.testMissingTable)
	t.Run("ExecRollsBack", env.testExecRollsBack)
	t.Run("UnloadPrefixRefused", env.testUnloadPrefixRefused)
	t.Run("CopyErrorNamesTheFile", env.testCopyErrorNamesTheFile)
	t.Run("Query", env.testQuery)
	t.Run("UnloadEncryption", env.testUnloadEncryption)
	t.Run("CrossRegion", env.testCrossRegion)
	t.Run("Asynchronous", env.testAsynchronous)
	t.Run("Name", func(t *testing.T) {
		want := fmt.Sprintf("127.0.0.1:%d/source", env.server.Port)
		if got := env.source.Name(); got != want {
			t.Errorf("Name() = %q, want %q", got, want)
		}
	})
}

// allTypes has every common column type; loaded twice, once per database.
const allTypes = `CREATE TABLE %s (
	id integer PRIMARY KEY,
	small smallint,
	big bigint,
	num numeric(38,10),
	amount numeric(12,2),
	flag boolean,
	dp double precision,
	r real,
	d date,
	ts timestamp,
	tstz timestamptz,
	vc varchar(100),
	ch char(5),
	t text
)`

var allTypesColumns = []Column{
	{"id", "integer", false},
	{"small", "smallint", true},
	{"big", "bigint", true},
	{"num", "numeric(38,10)", true},
	{"amount", "numeric(12,2)", true},
	{"flag", "boolean", true},
	{"dp", "double precision", true},
	{"r", "real", true},
	{"d", "date", true},
	{"ts", "timestamp without time zone", true},
	{"tstz", "timestamp with time zone", true},
	{"vc", "character varying(100)", true},
	{"ch", "character(5)", true},
	{"t", "text", true},
}

func (env *pgEnv) testRoundTrip(t *testing.T) {
	ctx := context.Background()
	// Both tables in a schema, the target's name needing quotes.
	const target = `public."All ""types"""`
	// Literals as Redshift reads them (the stand-in's session too): '\\N' is a
	// backslash and an N.
	if err := env.source.Exec(ctx, "CREATE SCHEMA shop", fmt.Sprintf(allTypes, "shop.all_types"),
		// 2,500 generated rows make three parts of 1,000, 1,000 and 500 + the special rows.
		`INSERT INTO shop.all_types
		 SELECT g, g % 100, g::bigint * 1000000007, g::numeric / 7, g * 1.25, g % 2 = 0, g / 3.0, g / 7.0,
		        date '2024-01-01' + g, timestamp '2024-01-01 00:00:00' + g * interval '1 second 1 microsecond',
		        timestamptz '2024-01-01 00:00:00+02' + g * interval '1 minute', 'row ' || g, 'c' || (g % 10), repeat('x', g % 50)
		 FROM generate_series(1, 2500) g`,
		`INSERT INTO shop.all_types VALUES
		 (3001, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
		 (3002, 0, 0, 0, 0, false, 0, 0, '0001-01-01', '1970-01-01 00:00:00', '1970-01-01 00:00:00+00', '', '', ''),
		 (3003, -32768, -9223372036854775808, -9999999999999999999999999999.9999999999, -9999999999.99, true,
		  -1.7976931348623157e308, -3.4e38, '9999-12-31', '2024-02-29 23:59:59.123456', '2024-02-29 23:59:59.999999-08', 'a,b', 'q"x', 'say "hi", ''twice'''),
		 (3004, 32767, 9223372036854775807, 9999999999999999999999999999.9999999999, 9999999999.99, NULL,
		  5e-324, 1.17549435e-38, '2000-02-29', '2000-01-01 00:00:00.000001', '2000-01-01 12:00:00.5+05:30', E'line1\nline2', E'a\r\nb', E'tab\there\nand "quoted\nnewline"'),
		 (3005, 1, 1, 0.0000000001, 0.01, true, 'NaN', 'Infinity', '2024-01-01', '2024-01-01 00:00:00', '2024-01-01 00:00:00Z', '\\N', 'N', E'\\N'),
		 (3006, 2, 2, 1, 1, false, '-Infinity', 1, '2024-01-01', NULL, NULL, '\\.', '\\', E'\\.'),
		 (3007, 3, 3, 1, 1, true, 1, 1, NULL, NULL, NULL, 'ünïcödé 日本語 🐘', 'é', 'Zürich — “quotes” ‘single’ 🎉'),
		 (3008, 4, 4, 1, 1, true, 1, 1, NULL, NULL, NULL, ',', '"', '"'),
		 (3009, 5, 5, 1, 1, true, 1, 1, NULL, NULL, NULL, ' leading and trailing ', ' ', E'\n')`,
	); err != nil {
		t.Fatal(err)
	}
	if err := env.target.Exec(ctx, fmt.Sprintf(allTypes, target)); err != nil {
		t.Fatal(err)
	}

	cols, err := env.source.Columns(ctx, "shop", "all_types")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(cols) != fmt.Sprint(allTypesColumns) {
		t.Errorf("Columns:\n got %v\nwant %v", cols, allTypesColumns)
	}
	targetCols, err := env.target.Columns(ctx, "public", `All "types"`)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(targetCols) != fmt.Sprint(cols) {
		t.Errorf("target columns %v differ from source columns %v", targetCols, cols)
	}

	prefix := "s3://" + testBucket + "/roundtrip/v1/"
	files, err := env.source.Unload(ctx, "SELECT * FROM shop.all_types ORDER BY id;\n", prefix)
	if err != nil {
		t.Fatal(err)
	}
	wantRows := []int64{1000, 1000, 509}
	if len(files) != len(wantRows) {
		t.Fatalf("Unload wrote %d files, want %d: %+v", len(files), len(wantRows), files)
	}
	for i, f := range files {
		if want := fmt.Sprintf("%s0000_part_%02d.gz", prefix, i); f.URL != want || f.Rows != wantRows[i] {
			t.Errorf("file %d: %+v, want URL %s with %d rows", i, f, want, wantRows[i])
		}
		head, err := env.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(testBucket), Key: aws.String(strings.TrimPrefix(f.URL, "s3://"+testBucket+"/"))})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToInt64(head.ContentLength) != f.Bytes || f.Bytes == 0 {
			t.Errorf("file %s: Bytes %d, object is %d bytes", f.URL, f.Bytes, aws.ToInt64(head.ContentLength))
		}
	}
	if keys := env.keys(t, "roundtrip/"); len(keys) != len(files) {
		t.Errorf("objects under the prefix: %v, want only the %d files", keys, len(files))
	}
	// The file format: timestamps with microseconds in UTC, NULL as \N, a literal \N quoted.
	last := env.gunzip(t, files[len(files)-1].URL)
	for _, want := range []string{
		`3001,\N,\N,\N,\N,\N,\N,\N,\N,\N,\N,\N,\N,\N` + "\n",
		`2024-02-29 23:59:59.123456,2024-03-01 07:59:59.999999+00,"a,b","q""x  ","say ""hi"", 'twice'"`,
		`2000-01-01 00:00:00.000001,2000-01-01 06:30:00.5+00`,
		`"\N",N    ,"\N"`,
	} {
		if !strings.Contains(last, want) {
			t.Errorf("last part lacks %q:\n%s", want, last)
		}
	}

	n, err := env.target.Copy(ctx, "public", `All "types"`, files)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2509 {
		t.Errorf("Copy loaded %d rows, want 2509", n)
	}
	const checksum = `SELECT count(*), md5(string_agg(x::text, E'\n' ORDER BY id)) FROM %s x`
	src, err := env.source.Query(ctx, fmt.Sprintf(checksum, "shop.all_types"))
	if err != nil {
		t.Fatal(err)
	}
	dst, err := env.target.Query(ctx, fmt.Sprintf(checksum, target))
	if err != nil {
		t.Fatal(err)
	}
	if *src[0][0] != "2509" || *src[0][0] != *dst[0][0] || *src[0][1] != *dst[0][1] {
		t.Errorf("source count, md5 %s %s; target %s %s", *src[0][0], *src[0][1], *dst[0][0], *dst[0][1])
	}
	// On a difference, say which of the hand-written rows did not survive.
	if t.Failed() {
		srcRows, _ := env.source.Query(ctx, `SELECT x::text FROM shop.all_types x WHERE id > 3000 ORDER BY id`)
		dstRows, _ := env.target.Query(ctx, `SELECT x::text FROM `+target+` x WHERE id > 3000 ORDER BY id`)
		for i := range srcRows {
			if i >= len(dstRows) || *srcRows[i][0] != *dstRows[i][0] {
				t.Errorf("row %d:\nsource %s\ntarget %v", i, *srcRows[i][0], dstRows[i])
			}
		}
	}
}

func (env *pgEnv) testEmptyResult(t *testing.T) {
	ctx := context.Background()
	if err := env.source.Exec(ctx, "CREATE TABLE empty_one (id integer, name text)"); err != nil {
		t.Fatal(err)
	}
	files, err := env.source.Unload(ctx, "SELECT * FROM empty_one", "s3://"+testBucket+"/empty/v1/")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 || files[0].Rows != 0 || files[0].URL != "s3://"+testBucket+"/empty/v1/0000_part_00.gz" {
		t.Fatalf("empty unload: %+v, want one empty part", files)
	}
	if err := env.target.Exec(ctx, "CREATE TABLE empty_one (id integer, name text)"); err != nil {
		t.Fatal(err)
	}
	n, err := env.target.Copy(ctx, "public", "empty_one", files)
	if err != nil || n != 0 {
		t.Fatalf("copy of an empty part: %d rows, %v", n, err)
	}
}

func (env *pgEnv) testStats(t *testing.T) {
	ctx := context.Background()
	if err := env.source.Exec(ctx,
		`CREATE TABLE "stats ""t""" (id integer, "ins at" timestamp, upd timestamptz)`,
	); err != nil {
		t.Fatal(err)
	}
	table := `stats "t"`
	st, err := env.source.Stats(ctx, "public", table, "ins at", "upd")
	if err != nil {
		t.Fatal(err)
	}
	if st.Rows != 0 || st.MaxInserted != nil || st.MaxUpdated != nil {
		t.Errorf("empty table: %+v, want 0 rows and no times", st)
	}
	if err := env.source.Exec(ctx,
		`INSERT INTO "stats ""t""" VALUES
		 (1, '2024-05-01 10:00:00.123456', '2024-05-02 10:00:00+02'),
		 (2, '2024-05-03 10:00:00', NULL),
		 (3, NULL, '2024-05-01 00:00:00.000001-05')`,
	); err != nil {
		t.Fatal(err)
	}
	st, err = env.source.Stats(ctx, "public", table, "ins at", "upd")
	if err != nil {
		t.Fatal(err)
	}
	wantIns := time.Date(2024, 5, 3, 10, 0, 0, 0, time.UTC)
	wantUpd := time.Date(2024, 5, 2, 8, 0, 0, 0, time.UTC)
	if st.Rows != 3 || st.MaxInserted == nil || !st.MaxInserted.Equal(wantIns) || st.MaxInserted.Location() != time.UTC ||
		st.MaxUpdated == nil || !st.MaxUpdated.Equal(wantUpd) || st.MaxUpdated.Location() != time.UTC {
		t.Errorf("Stats = %d %v %v, want 3 %v %v (UTC)", st.Rows, st.MaxInserted, st.MaxUpdated, wantIns, wantUpd)
	}
	for _, tt := range []struct{ ins, upd string }{{"", "upd"}, {"ins at", ""}, {"", ""}} {
		st, err := env.source.Stats(ctx, "public", table, tt.ins, tt.upd)
		if err != nil {
			t.Fatal(err)
		}
		if st.Rows != 3 || (st.MaxInserted != nil) != (tt.ins != "") || (st.MaxUpdated != nil) != (tt.upd != "") {
			t.Errorf("Stats(%q, %q) = %+v", tt.ins, tt.upd, st)
		}
		if tt.upd != "" && !st.MaxUpdated.Equal(wantUpd) {
			t.Errorf("Stats(%q, %q): MaxUpdated %v, want %v", tt.ins, tt.upd, st.MaxUpdated, wantUpd)
		}
	}
}

func (env *pgEnv) testMissingTable(t *testing.T) {
	ctx := context.Background()
	check := func(what string, err error, schema, table string) {
		t.Helper()
		var nf *TableNotFoundError
		if !errors.As(err, &nf) || nf.Schema != schema || nf.Table != table || nf.Database != env.source.Name() {
			t.Errorf("%s: got %v (%#v), want TableNotFoundError for %s.%s in %s", what, err, nf, schema, table, env.source.Name())
		}
	}
	_, err := env.source.Columns(ctx, "public", "no_such_table")
	check("Columns", err, "public", "no_such_table")
	_, err = env.source.Columns(ctx, "no_such_schema", "t")
	check("Columns, missing schema", err, "no_such_schema", "t")
	_, err = env.source.Stats(ctx, "public", "no_such_table", "a", "b")
	check("Stats", err, "public", "no_such_table")
	_, err = env.source.Query(ctx, "SELECT version FROM no_such_schema.no_such_table")
	check("Query", err, "no_such_schema", "no_such_table")

	files, err := env.source.Unload(ctx, "SELECT 1", "s3://"+testBucket+"/missing/v1/")
	if err != nil {
		t.Fatal(err)
	}
	_, err = env.source.Copy(ctx, "public", "no_such_table", files)
	check("Copy", err, "public", "no_such_table")
	if err == nil || !strings.Contains(err.Error(), files[0].URL) {
		t.Errorf("Copy error %v does not name %s", err, files[0].URL)
	}
}

func (env *pgEnv) testExecRollsBack(t *testing.T) {
	ctx := context.Background()
	err := env.source.Exec(ctx,
		"CREATE TABLE rolled_back (id integer)",
		"INSERT INTO rolled_back VALUES (1)",
		"INSERT INTO rolled_back VALUES ('not a number')",
	)
	if err == nil || !strings.Contains(err.Error(), "statement 3 of 3") {
		t.Fatalf("Exec with a failing third statement: %v, want an error naming statement 3 of 3", err)
	}
	var nf *TableNotFoundError
	if _, err := env.source.Columns(ctx, "public", "rolled_back"); !errors.As(err, &nf) {
		t.Fatalf("the table of the failed Exec exists: %v", err)
	}
	if err := env.source.Exec(ctx); err != nil {
		t.Fatalf("Exec of nothing: %v", err)
	}
}

func (env *pgEnv) testUnloadPrefixRefused(t *testing.T) {
	ctx := context.Background()
	for _, prefix := range []string{
		"s3://" + testBucket + "/no-slash",
		"s3://" + testBucket + "/",
		"s3://" + testBucket,
		"s3:///folder/",
		testBucket + "/folder/",
		"https://" + testBucket + ".s3.amazonaws.com/folder/",
	} {
		_, err := env.source.Unload(ctx, "SELECT 1", prefix)
		if err == nil || !strings.Contains(err.Error(), prefix) {
			t.Errorf("Unload to %q: %v, want an error naming the prefix", prefix, err)
		}
	}
	if keys := env.keys(t, "no-slash"); len(keys) != 0 {
		t.Errorf("a refused unload wrote %v", keys)
	}
}

func (env *pgEnv) testCopyErrorNamesTheFile(t *testing.T) {
	ctx := context.Background()
	if err := env.target.Exec(ctx, "CREATE TABLE two_ints (a integer, b integer)"); err != nil {
		t.Fatal(err)
	}
	put := func(key string, body []byte) File {
		if _, err := env.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(testBucket), Key: aws.String(key), Body: bytes.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
		return File{URL: "s3://" + testBucket + "/" + key}
	}
	badRow := gzipped("1,2\n3,not a number\n")
	goodRows := gzipped("7,8\n9,10\n")
	good := put("bad/good.gz", gzipped("5,6\n"))
	for _, bad := range []File{
		put("bad/not-gzip.gz", []byte("1,2\n")),
		put("bad/bad-row.gz", badRow),
		put("bad/truncated.gz", goodRows[:len(goodRows)-6]), // the CRC and length are lost,
		{URL: "s3://" + testBucket + "/bad/missing.gz"},
	} {
		n, err := env.target.Copy(ctx, "public", "two_ints", []File{good, bad})
		t.Logf("%v", err)
		if err == nil || !strings.Contains(err.Error(), bad.URL) {
			t.Errorf("Copy of %s: %d rows, %v; want an error naming it", bad.URL, n, err)
		}
	}
	rows, err := env.target.Query(ctx, "SELECT count(*) FROM two_ints")
	if err != nil || *rows[0][0] != "0" {
		t.Errorf("after failed copies two_ints has %v rows (%v), want 0: Copy is all files or none", rows, err)
	}
}

func gzipped(s string) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	io.WriteString(w, s)
	w.Close()
	return b.Bytes()
}

func (env *pgEnv) testQuery(t *testing.T) {
	ctx := context.Background()
	rows, err := env.source.Query(ctx, `SELECT 1 AS a, NULL::text, '', timestamp '2024-01-02 03:04:05.5', timestamptz '2024-01-02 03:04:05+01'
		UNION ALL SELECT 2, 'x', 'y', NULL, NULL ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rows {
		for _, v := range r {
			if v == nil {
				got = append(got, "<nil>")
			} else {
				got = append(got, fmt.Sprintf("%q", *v))
			}
		}
	}
	want := `"1" <nil> "" "2024-01-02 03:04:05.5" "2024-01-02 02:04:05+00" "2" "x" "y" <nil> <nil>`
	if strings.Join(got, " ") != want {
		t.Errorf("Query rows:\n got %s\nwant %s", strings.Join(got, " "), want)
	}
	if _, err := env.source.Query(ctx, "SELECT 1; SELECT 2"); err == nil {
		t.Error("Query of two statements succeeded, want an error")
	}
}

func (env *pgEnv) keys(t *testing.T, prefix string) []string {
	t.Helper()
	out, err := env.s3.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(testBucket), Prefix: aws.String(prefix)})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range out.Contents {
		keys = append(keys, aws.ToString(o.Key))
	}
	return keys
}

func (env *pgEnv) gunzip(t *testing.T, url string) string {
	t.Helper()
	out, err := env.s3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(testBucket), Key: aws.String(strings.TrimPrefix(url, "s3://"+testBucket+"/"))})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Body.Close()
	r, err := gzip.NewReader(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestNormalizeType(t *testing.T) {
	tests := []struct{ in, want string }{
		{"integer", "integer"},
		{"INT4", "integer"},
		{"int", "integer"},
		{"int8", "bigint"},
		{"BIGINT", "bigint"},
		{"int2", "smallint"},
		{"bool", "boolean"},
		{"float8", "double precision"},
		{"float", "double precision"},
		{"Double   Precision", "double precision"},
		{"float4", "real"},
		{"character varying(256)", "character varying(256)"},
		{"varchar(10)", "character varying(10)"},
		{"VARCHAR ( 10 )", "character varying(10)"},
		{"character varying", "character varying"},
		{"char(5)", "character(5)"},
		{"bpchar(5)", "character(5)"},
		{"numeric(12,2)", "numeric(12,2)"},
		{"numeric(38, 10)", "numeric(38,10)"},
		{"decimal(12,2)", "numeric(12,2)"},
		{"numeric(10)", "numeric(10,0)"},
		{"numeric", "numeric"},
		{"timestamp", "timestamp without time zone"},
		{"timestamp without time zone", "timestamp without time zone"},
		{"timestamp(3) without time zone", "timestamp without time zone"},
		{"timestamptz", "timestamp with time zone"},
		{"timestamp with time zone", "timestamp with time zone"},
		{"time", "time without time zone"},
		{"date", "date"},
		{"text", "text"},
		{" text ", "text"},
	}
	for _, tt := range tests {
		if got := NormalizeType(tt.in); got != tt.want {
			t.Errorf("NormalizeType(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// testUnloadEncryption: as Redshift's UNLOAD, the stand-in writes SSE-S3 unless it is
// given the lake's key, and then SSE-KMS with that key (so the offline S3 checks the
// writer's kms:GenerateDataKey on it).
func (env *pgEnv) testUnloadEncryption(t *testing.T) {
	ctx := context.Background()
	const key = "arn:aws:kms:us-east-1:000000000000:key/00000000-0000-4000-8000-000000000000"
	keyed, err := OpenPostgres(ctx, env.server.DSN("source"), env.s3, WithKMSKey(key))
	if err != nil {
		t.Fatal(err)
	}
	defer keyed.Close()
	for _, c := range []struct {
		wh       *Postgres
		prefix   string
		sse, key string
	}{
		{env.source, "enc/sse-s3/", "AES256", ""},
		{keyed, "enc/sse-kms/", "aws:kms", key},
	} {
		files, err := c.wh.Unload(ctx, "SELECT 1", "s3://"+testBucket+"/"+c.prefix)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			head, err := env.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(testBucket), Key: aws.String(strings.TrimPrefix(f.URL, "s3://"+testBucket+"/"))})
			if err != nil {
				t.Fatal(err)
			}
			if string(head.ServerSideEncryption) != c.sse || aws.ToString(head.SSEKMSKeyId) != c.key {
				t.Errorf("%s: encrypted %q with key %q, want %q with %q", f.URL, head.ServerSideEncryption, aws.ToString(head.SSEKMSKeyId), c.sse, c.key)
			}
		}
	}
}

// testCrossRegion: the lake bucket is in lakeRegion, a subscriber in another Region.
// Its COPY with REGION naming the bucket's Region loads; the same COPY without REGION
// (the positive control: the statements snaplake wrote before), or with another
// Region, fails with Redshift's error and loads nothing. UNLOAD likewise.
func (env *pgEnv) testCrossRegion(t *testing.T) {
	ctx := context.Background()
	const elsewhere = "us-east-1"
	open := func(db, warehouseRegion, regionParameter string) Warehouse {
		t.Helper()
		wh, err := Open(ctx, env.server.DSN(db), Deps{S3: env.s3, BucketRegion: regionParameter,
			Postgres: []PostgresOption{WithWarehouseRegion(warehouseRegion), WithBucketRegion(lakeRegion)}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { wh.Close() })
		return wh
	}
	publisher := open("source", lakeRegion, lakeRegion)
	if err := publisher.Exec(ctx, "CREATE TABLE regions_src (id integer)", "INSERT INTO regions_src VALUES (1), (2), (3)"); err != nil {
		t.Fatal(err)
	}
	files, err := Unload(ctx, publisher, "SELECT id FROM regions_src", "s3://"+testBucket+"/regions/v1/", time.Millisecond)
	if err != nil {
		t.Fatalf("unload by a publisher in the bucket's Region: %v", err)
	}
	if err := env.target.Exec(ctx, "CREATE TABLE regions_dst (id integer)"); err != nil {
		t.Fatal(err)
	}
	rows := func() string {
		t.Helper()
		r, err := env.target.Query(ctx, "SELECT COUNT(*) FROM regions_dst")
		if err != nil {
			t.Fatal(err)
		}
		return *r[0][0]
	}
	const redshiftSays = "The bucket you are attempting to access must be addressed using the specified endpoint."
	for name, regionParameter := range map[string]string{"without REGION": "", "with another Region's REGION": "us-west-2"} {
		_, err := Copy(ctx, open("target", elsewhere, regionParameter), "public", "regions_dst", files, time.Millisecond)
		var re *BucketRegionError
		if !errors.As(err, &re) || !strings.Contains(err.Error(), redshiftSays) || re.BucketRegion != lakeRegion {
			t.Errorf("COPY %s into a warehouse in %s from a bucket in %s: %v, want a *BucketRegionError saying %q", name, elsewhere, lakeRegion, err, redshiftSays)
		}
		if n := rows(); n != "0" {
			t.Errorf("COPY %s failed but loaded %s rows", name, n)
		}
		_, err = Unload(ctx, open("source", elsewhere, regionParameter), "SELECT id FROM regions_src", "s3://"+testBucket+"/regions/v2/", time.Millisecond)
		if !errors.As(err, &re) || !strings.Contains(err.Error(), redshiftSays) {
			t.Errorf("UNLOAD %s from a warehouse in %s to a bucket in %s: %v, want a *BucketRegionError", name, elsewhere, lakeRegion, err)
		}
		if keys := env.keys(t, "regions/v2/"); len(keys) != 0 {
			t.Errorf("UNLOAD %s failed but wrote %v", name, keys)
		}
	}
	n, err := Copy(ctx, open("target", elsewhere, lakeRegion), "public", "regions_dst", files, time.Millisecond)
	if err != nil || n != 3 {
		t.Fatalf("COPY with REGION '%s' into a warehouse in %s: %d rows, %v; want 3 rows", lakeRegion, elsewhere, n, err)
	}
	if got := rows(); got != "3" {
		t.Errorf("the table has %s rows, want 3", got)
	}
	if _, err := Unload(ctx, open("source", elsewhere, lakeRegion), "SELECT id FROM regions_src", "s3://"+testBucket+"/regions/v3/", time.Millisecond); err != nil {
		t.Errorf("UNLOAD with REGION '%s' from a warehouse in %s: %v", lakeRegion, elsewhere, err)
	}
}
