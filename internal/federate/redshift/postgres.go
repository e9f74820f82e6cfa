package redshift

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// The PostgreSQL stand-in of Redshift. PostgreSQL has neither UNLOAD nor COPY from
// S3, so this side streams them itself: COPY ... TO STDOUT through gzip into a
// temporary file per part, then PutObject; GetObject through gunzip into COPY ...
// FROM STDIN. The files are those of the common format (redshift.go), so either
// implementation loads what the other unloaded. It needs of S3 what the Data API
// implementation does (S3API): PutObject and GetObject.

// DefaultPartRows is how many rows Unload writes to one file before starting the next.
const DefaultPartRows = 1_000_000

// Postgres is a PostgreSQL database standing in for a Redshift one. Each call opens
// its own connection (a local server answers in milliseconds), so a Postgres is safe
// for concurrent use and holds nothing open between calls.
type Postgres struct {
	config   *pgx.ConnConfig
	s3       S3API
	name     string
	partRows int64
	tempDir  string
	kmsKeyID string
	// Where things are, for REGION (see WithRegionParameter): "" is unknown, and no
	// Region is then checked.
	regionParameter string // what UNLOAD's and COPY's REGION says ("": none)
	region          string // the Region the warehouse stands in
	bucketRegion    string // the Region of the buckets it unloads to and copies from
	// idle keeps connections between calls (at most cap(idle)): opening one costs
	// more than the metadata query a no-change check makes.
	idle chan *pgx.Conn
	// statements holds the submitted UNLOADs and COPYs (WithStatements).
	statements *Statements
}

var _ Warehouse = (*Postgres)(nil)

// PostgresOption changes how a Postgres unloads.
type PostgresOption func(*Postgres)

// WithPartRows makes Unload start a new file every n rows (default DefaultPartRows).
func WithPartRows(n int64) PostgresOption {
	return func(p *Postgres) {
		if n > 0 {
			p.partRows = n
		}
	}
}

// WithTempDir stages unloaded parts in dir instead of the default temporary directory.
func WithTempDir(dir string) PostgresOption {
	return func(p *Postgres) { p.tempDir = dir }
}

// WithKMSKey makes Unload write its files SSE-KMS with the key, as Redshift's UNLOAD
// ... KMS_KEY_ID does; without it they are SSE-S3 (AES256), as UNLOAD's default is,
// whatever the bucket's default encryption: the offline S3 then checks the key's
// kms:GenerateDataKey only when UNLOAD would use it.
func WithKMSKey(keyID string) PostgresOption {
	return func(p *Postgres) { p.kmsKeyID = keyID }
}

// WithRegionParameter makes Unload and Copy say REGION '<region>', as the Data API
// implementation's statements do with DataAPIConfig.BucketRegion; "" (the default)
// is a statement without REGION, which Redshift runs against S3 in the warehouse's
// own Region.
func WithRegionParameter(region string) PostgresOption {
	return func(p *Postgres) { p.regionParameter = region }
}

// WithWarehouseRegion places the stand-in in a Region (the one of the warehouse it
// stands in for). With WithBucketRegion, Unload and Copy then fail as Redshift's do
// when the two differ and the statement has no REGION naming the bucket's.
func WithWarehouseRegion(region string) PostgresOption {
	return func(p *Postgres) { p.region = region }
}

// WithBucketRegion says which Region the buckets of Unload and Copy are in (offline:
// the lake's, the stack's Region).
func WithBucketRegion(region string) PostgresOption {
	return func(p *Postgres) { p.bucketRegion = region }
}

// BucketRegionError is how Redshift's UNLOAD or COPY fails when it addresses S3 in
// another Region than the bucket's: without REGION a warehouse reaches S3 in its own
// Region, and "If your data and your cluster are in different Regions, you receive
// an error similar to the following: The bucket you are attempting to access must be
// addressed using the specified endpoint." (Redshift DG "Load fails"; S3's error
// code is PermanentRedirect, HTTP 301).
type BucketRegionError struct {
	Warehouse    string
	Bucket       string
	BucketRegion string
	Addressed    string // the Region S3 was addressed in: REGION's, or the warehouse's
	Region       bool   // the statement had a REGION parameter
}

func (e *BucketRegionError) Error() string {
	how := "the statement has no REGION, so the warehouse addressed S3 in its own Region " + e.Addressed
	if e.Region {
		how = "the statement's REGION is " + e.Addressed
	}
	return "S3ServiceException:The bucket you are attempting to access must be addressed using the specified endpoint. " +
		"Please send all future requests to this endpoint.,Status 301,Error PermanentRedirect " +
		fmt.Sprintf("(warehouse %s, bucket %s in %s: %s)", e.Warehouse, e.Bucket, e.BucketRegion, how)
}

// checkRegion fails as Redshift does when the statement would address bucket in
// another Region than the bucket's.
func (p *Postgres) checkRegion(bucket string) error {
	if p.bucketRegion == "" {
		return nil
	}
	addressed, named := p.region, false
	if p.regionParameter != "" {
		addressed, named = p.regionParameter, true
	}
	if addressed == "" || addressed == p.bucketRegion {
		return nil
	}
	return &BucketRegionError{Warehouse: p.name, Bucket: bucket, BucketRegion: p.bucketRegion, Addressed: addressed, Region: named}
}

// OpenPostgres opens the database at url (postgres://user@host:port/database) and
// checks that it answers. s3 stores the files of Unload and Copy.
func OpenPostgres(ctx context.Context, url string, s3 S3API, opts ...PostgresOption) (*Postgres, error) {
	config, err := pgx.ParseConfig(url)
	if err != nil {
		// pgx's message quotes the URL, password included; say only what was wrong.
		var pe *pgconn.ParseConfigError
		if errors.As(err, &pe) && pe.Unwrap() != nil {
			return nil, fmt.Errorf("open PostgreSQL warehouse: invalid URL: %w", pe.Unwrap())
		}
		return nil, errors.New("open PostgreSQL warehouse: invalid URL")
	}
	// The session settings that make COPY write the common format: timestamps as
	// 'YYYY-MM-DD HH:MI:SS.US' in UTC.
	config.RuntimeParams["timezone"] = "UTC"
	config.RuntimeParams["datestyle"] = "ISO, YMD"
	// String literals as Redshift reads them: a backslash is an escape ('a\\b' is
	// a\b), so that SQL quoted for Redshift means the same here (Redshift has no
	// standard_conforming_strings; QUOTE_LITERAL "doubles any embedded single
	// quotation marks and backslashes", Redshift DG "QUOTE_LITERAL function").
	config.RuntimeParams["standard_conforming_strings"] = "off"
	config.RuntimeParams["escape_string_warning"] = "off"
	config.RuntimeParams["application_name"] = "snaplake"
	p := &Postgres{
		config:   config,
		s3:       s3,
		name:     net.JoinHostPort(config.Host, strconv.Itoa(int(config.Port))) + "/" + config.Database,
		partRows: DefaultPartRows,
		idle:     make(chan *pgx.Conn, 16),
	}
	for _, o := range opts {
		o(p)
	}
	if p.statements == nil {
		p.statements = NewStatements()
	}
	conn, err := p.connect(ctx)
	if err != nil {
		return nil, err
	}
	p.release(conn)
	return p, nil
}

// Name is host:port/database.
func (p *Postgres) Name() string { return p.name }

// Close closes the idle connections.
func (p *Postgres) Close() error {
	for {
		select {
		case c := <-p.idle:
			c.Close(context.Background())
		default:
			return nil
		}
	}
}

// connect takes an idle connection, or opens one.
func (p *Postgres) connect(ctx context.Context) (*pgx.Conn, error) {
	for {
		select {
		case c := <-p.idle:
			if !c.IsClosed() && c.PgConn().TxStatus() == 'I' {
				return c, nil
			}
			c.Close(context.WithoutCancel(ctx))
			continue
		default:
		}
		break
	}
	conn, err := pgx.ConnectConfig(ctx, p.config)
	if err != nil {
		return nil, fmt.Errorf("connect to PostgreSQL warehouse %s: %w", p.name, err)
	}
	return conn, nil
}

// release keeps a connection that is idle and healthy for the next call.
func (p *Postgres) release(c *pgx.Conn) {
	if c.IsClosed() || c.PgConn().IsBusy() || c.PgConn().TxStatus() != 'I' {
		c.Close(context.Background())
		return
	}
	select {
	case p.idle <- c:
	default:
		c.Close(context.Background())
	}
}

// Columns reads information_schema.columns, the view Redshift's SVV_COLUMNS mirrors,
// and spells the types as NormalizeType does.
func (p *Postgres) Columns(ctx context.Context, schema, table string) ([]Column, error) {
	conn, err := p.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer p.release(conn)
	rows, err := conn.Query(ctx, `SELECT column_name, data_type, udt_name, character_maximum_length, numeric_precision, numeric_scale, is_nullable
FROM information_schema.columns
WHERE table_schema = $1 AND table_name = $2
ORDER BY ordinal_position`, schema, table)
	if err != nil {
		return nil, fmt.Errorf("read the columns of %s.%s in %s: %w", schema, table, p.name, err)
	}
	var cols []Column
	for rows.Next() {
		var (
			name, dataType, udt, nullable string
			length, precision, scale      *int64
		)
		if err := rows.Scan(&name, &dataType, &udt, &length, &precision, &scale, &nullable); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read the columns of %s.%s in %s: %w", schema, table, p.name, err)
		}
		cols = append(cols, Column{Name: name, Type: columnType(dataType, udt, length, precision, scale), Nullable: nullable == "YES"})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the columns of %s.%s in %s: %w", schema, table, p.name, err)
	}
	if len(cols) == 0 {
		return nil, &TableNotFoundError{Database: p.name, Schema: schema, Table: table}
	}
	return cols, nil
}

// columnType builds a type from information_schema's parts: data_type, with (n) for
// character types and (p,s) for a numeric with a declared precision.
func columnType(dataType, udt string, length, precision, scale *int64) string {
	t := strings.ToLower(dataType)
	switch {
	case t == "user-defined":
		t = udt // an enum or a domain's base type name
	case t == "array":
		t = strings.TrimPrefix(udt, "_") + "[]"
	case (t == "character varying" || t == "character") && length != nil:
		t += "(" + strconv.FormatInt(*length, 10) + ")"
	case t == "numeric" && precision != nil:
		s := int64(0)
		if scale != nil {
			s = *scale
		}
		t += "(" + strconv.FormatInt(*precision, 10) + "," + strconv.FormatInt(s, 10) + ")"
	}
	return NormalizeType(t)
}

// typeAliases maps the other spellings of a type, from PostgreSQL's catalog
// (format_type, udt_name) or Redshift's DDL, to information_schema's.
var typeAliases = map[string]string{
	"int":         "integer",
	"int4":        "integer",
	"int2":        "smallint",
	"int8":        "bigint",
	"bool":        "boolean",
	"float":       "double precision",
	"float8":      "double precision",
	"float4":      "real",
	"decimal":     "numeric",
	"varchar":     "character varying",
	"nvarchar":    "character varying",
	"char":        "character",
	"nchar":       "character",
	"bpchar":      "character",
	"timestamp":   "timestamp without time zone",
	"timestamptz": "timestamp with time zone",
	"time":        "time without time zone",
	"timetz":      "time with time zone",
}

var (
	typeModifier = regexp.MustCompile(`^([a-z0-9_ ]+?)\s*\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\)\s*(.*)$`)
	spaces       = regexp.MustCompile(`\s+`)
)

// NormalizeType spells a column type the one way both implementations report it:
// lower case, information_schema's names (character varying, timestamp without time
// zone, double precision, ...) with (n) or (p,s) attached without spaces, whatever
// alias it came as (varchar(10), int8, decimal(12, 2), timestamptz, bpchar). A
// timestamp's or time's fractional precision is dropped: Redshift has none.
func NormalizeType(t string) string {
	t = strings.TrimSpace(spaces.ReplaceAllString(strings.ToLower(t), " "))
	base, mods, rest := t, "", ""
	if m := typeModifier.FindStringSubmatch(t); m != nil {
		base, rest = m[1], m[4]
		mods = "(" + m[2]
		if m[3] != "" {
			mods += "," + m[3]
		}
		mods += ")"
	}
	if rest != "" {
		// timestamp(3) without time zone: the modifier sits inside the name.
		base += " " + rest
	}
	if a, ok := typeAliases[base]; ok {
		base = a
	}
	switch {
	case strings.HasPrefix(base, "timestamp"), strings.HasPrefix(base, "time "):
		mods = ""
	case base == "numeric" && mods != "" && !strings.Contains(mods, ","):
		mods = strings.TrimSuffix(mods, ")") + ",0)"
	}
	return base + mods
}

// Stats runs the one metadata query, SELECT COUNT(*), MAX(inserted), MAX(updated).
func (p *Postgres) Stats(ctx context.Context, schema, table, insertedColumn, updatedColumn string) (Stats, error) {
	sql := "SELECT COUNT(*)"
	asked := 0
	for _, c := range []string{insertedColumn, updatedColumn} {
		if c != "" {
			sql += ", MAX(" + pgIdent(c) + ")"
			asked++
		}
	}
	sql += " FROM " + pgTable(schema, table)
	conn, err := p.connect(ctx)
	if err != nil {
		return Stats{}, err
	}
	defer p.release(conn)
	var st Stats
	maxes := make([]*time.Time, asked)
	dest := []any{&st.Rows}
	for i := range maxes {
		dest = append(dest, &maxes[i])
	}
	if err := conn.QueryRow(ctx, sql).Scan(dest...); err != nil {
		return Stats{}, p.tableError(err, schema, table, "read the stats of")
	}
	for i := range maxes {
		if maxes[i] != nil {
			u := maxes[i].UTC()
			maxes[i] = &u
		}
	}
	i := 0
	if insertedColumn != "" {
		st.MaxInserted, i = maxes[i], i+1
	}
	if updatedColumn != "" {
		st.MaxUpdated = maxes[i]
	}
	return st, nil
}

// tableError turns "relation does not exist" into *TableNotFoundError and says what
// was being done otherwise.
func (p *Postgres) tableError(err error, schema, table, doing string) error {
	if missingRelation(err) != nil {
		return &TableNotFoundError{Database: p.name, Schema: schema, Table: table}
	}
	return fmt.Errorf("%s %s.%s in %s: %w", doing, schema, table, p.name, err)
}

// missingRelation is the server's error when err says a table or schema does not
// exist, else nil.
func missingRelation(err error) *pgconn.PgError {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && (pe.Code == "42P01" || pe.Code == "3F000") { // undefined_table, invalid_schema_name
		return pe
	}
	return nil
}

// pgIdent double-quotes an identifier, doubling its double quotes.
func pgIdent(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }

func pgTable(schema, table string) string { return pgIdent(schema) + "." + pgIdent(table) }

// csvOptions is the common file format as COPY options.
// NULL is written E'\\N' (a backslash and an N) whatever standard_conforming_strings says.
const csvOptions = `(FORMAT csv, NULL E'\\N')`

// Unload streams COPY (query) TO STDOUT through gzip into <prefix>0000_part_00.gz,
// <prefix>0000_part_01.gz, ... (Redshift's names for one slice's files), a new part
// every partRows rows, each staged in a temporary file and then put. An empty result
// still writes one (empty) part, so a version always has a file to load. A failed
// unload may leave the parts already put: the prefix is then garbage, as after a
// failed Redshift UNLOAD.
func (p *Postgres) Unload(ctx context.Context, query string, prefix string) ([]File, error) {
	q, bucket, keyPrefix, err := p.checkUnload(ctx, query, prefix)
	if err != nil {
		return nil, err
	}
	conn, err := p.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer p.release(conn)
	return p.unloadOn(ctx, conn, q, prefix, bucket, keyPrefix)
}

// checkUnload checks what UNLOAD checks before it writes: the prefix, the query, the
// Region, and that nothing is there yet.
func (p *Postgres) checkUnload(ctx context.Context, query, prefix string) (q, bucket, keyPrefix string, err error) {
	bucket, keyPrefix, err = unloadPrefix(prefix)
	if err != nil {
		return "", "", "", err
	}
	q = strings.TrimRight(query, " \t\r\n;")
	if strings.TrimSpace(q) == "" {
		return "", "", "", fmt.Errorf("unload to %s: empty query", prefix)
	}
	if p.s3 == nil {
		return "", "", "", fmt.Errorf("unload to %s: the PostgreSQL warehouse %s was opened without an S3 client", prefix, p.name)
	}
	if err := p.checkRegion(bucket); err != nil {
		return "", "", "", fmt.Errorf("unload to %s: %w", prefix, err)
	}
	// As Redshift's UNLOAD without ALLOWOVERWRITE: it lists the prefix (which needs
	// s3:ListBucket) and fails if it would overwrite anything.
	existing, err := p.s3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(keyPrefix), MaxKeys: aws.Int32(1)})
	if err != nil {
		return "", "", "", fmt.Errorf("unload to %s: check nothing is there: %w", prefix, err)
	}
	if len(existing.Contents) > 0 {
		return "", "", "", fmt.Errorf("unload to %s: files exist there (%s): UNLOAD does not overwrite", prefix, aws.ToString(existing.Contents[0].Key))
	}
	return q, bucket, keyPrefix, nil
}

// unloadOn runs the UNLOAD's COPY TO on conn.
func (p *Postgres) unloadOn(ctx context.Context, conn *pgx.Conn, q, prefix, bucket, keyPrefix string) ([]File, error) {
	w := &partWriter{ctx: ctx, s3: p.s3, bucket: bucket, keyPrefix: keyPrefix, partRows: p.partRows, tempDir: p.tempDir, kmsKeyID: p.kmsKeyID}
	defer w.discard()
	if _, err := conn.PgConn().CopyTo(ctx, w, "COPY ("+q+") TO STDOUT WITH "+csvOptions); err != nil {
		return nil, fmt.Errorf("unload to %s from %s: %w", prefix, p.name, err)
	}
	if err := w.finish(); err != nil {
		return nil, fmt.Errorf("unload to %s from %s: %w", prefix, p.name, err)
	}
	return w.files, nil
}

// unloadPrefix splits s3://bucket/path/ and refuses anything else, as the Data API
// implementation does: the files go into a folder below the bucket.
func unloadPrefix(prefix string) (bucket, key string, err error) {
	rest, ok := strings.CutPrefix(prefix, "s3://")
	bucket, key, _ = strings.Cut(rest, "/")
	if !ok || bucket == "" || key == "" || !strings.HasSuffix(key, "/") {
		return "", "", fmt.Errorf(`unload prefix %q: must be s3://bucket/path/ (a folder below the bucket, ending in "/")`, prefix)
	}
	return bucket, key, nil
}

// partWriter receives COPY's CSV and cuts it into gzipped parts at row boundaries. A
// row ends at a newline outside quotes: quoted fields may hold newlines, and a
// doubled quote inside one toggles the state twice.
type partWriter struct {
	ctx       context.Context
	s3        S3API
	bucket    string
	keyPrefix string
	partRows  int64
	tempDir   string
	kmsKeyID  string

	file    *os.File
	gz      *gzip.Writer
	rows    int64
	inQuote bool
	files   []File
}

func (w *partWriter) Write(b []byte) (int, error) {
	written := 0
	for len(b) > 0 {
		if w.file == nil {
			if err := w.open(); err != nil {
				return written, err
			}
		}
		end := w.rowEnd(b)
		if end < 0 {
			n, err := w.gz.Write(b)
			return written + n, err
		}
		n, err := w.gz.Write(b[:end])
		written += n
		if err != nil {
			return written, err
		}
		b = b[end:]
		if w.rows++; w.rows >= w.partRows {
			if err := w.put(); err != nil {
				return written, err
			}
		}
	}
	return written, nil
}

// rowEnd is the index just after the first row end in b, or -1.
func (w *partWriter) rowEnd(b []byte) int {
	for i, c := range b {
		switch {
		case c == '"':
			w.inQuote = !w.inQuote
		case c == '\n' && !w.inQuote:
			return i + 1
		}
	}
	return -1
}

func (w *partWriter) open() error {
	f, err := os.CreateTemp(w.tempDir, "snaplake-unload-*.csv.gz")
	if err != nil {
		return fmt.Errorf("stage an unload part: %w", err)
	}
	w.file, w.rows = f, 0
	if w.gz == nil {
		w.gz = gzip.NewWriter(f)
	} else {
		w.gz.Reset(f)
	}
	return nil
}

// put closes the current part and puts it as the next file.
func (w *partWriter) put() error {
	url := fmt.Sprintf("s3://%s/%s%04d_part_%02d.gz", w.bucket, w.keyPrefix, 0, len(w.files))
	key := strings.TrimPrefix(url, "s3://"+w.bucket+"/")
	if w.inQuote {
		return fmt.Errorf("put %s: the CSV ends inside a quoted field", url)
	}
	if err := w.gz.Close(); err != nil {
		return fmt.Errorf("compress %s: %w", url, err)
	}
	size, err := w.file.Seek(0, io.SeekCurrent)
	if err != nil {
		return fmt.Errorf("stage %s: %w", url, err)
	}
	if _, err := w.file.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("stage %s: %w", url, err)
	}
	in := &s3.PutObjectInput{
		Bucket:        aws.String(w.bucket),
		Key:           aws.String(key),
		Body:          w.file,
		ContentLength: aws.Int64(size),
		// UNLOAD's own encryption: SSE-S3 unless a key is named.
		ServerSideEncryption: s3types.ServerSideEncryptionAes256,
	}
	sseKMS(in, w.kmsKeyID)
	if _, err := w.s3.PutObject(w.ctx, in); err != nil {
		return fmt.Errorf("put %s: %w", url, err)
	}
	w.files = append(w.files, File{URL: url, Rows: w.rows, Bytes: size})
	w.discard()
	return nil
}

// finish puts the last part, or an empty one when there were no rows at all.
func (w *partWriter) finish() error {
	if w.file == nil && len(w.files) == 0 {
		if err := w.open(); err != nil {
			return err
		}
	}
	if w.file != nil {
		return w.put()
	}
	return nil
}

// discard removes the staged part, if any.
func (w *partWriter) discard() {
	if w.file != nil {
		w.file.Close()
		os.Remove(w.file.Name())
		w.file = nil
	}
}

// Copy loads files into schema.table in one transaction: all files or none, as
// Redshift's COPY of a manifest. Each is streamed from S3 through gunzip into COPY
// ... FROM STDIN.
func (p *Postgres) Copy(ctx context.Context, schema, table string, files []File) (int64, error) {
	if err := p.checkCopy(schema, table, files); err != nil {
		return 0, err
	}
	conn, err := p.connect(ctx)
	if err != nil {
		return 0, err
	}
	defer p.release(conn)
	return p.copyOn(ctx, conn, schema, table, files)
}

// checkCopy checks what COPY checks before it reads: the client, the Regions.
func (p *Postgres) checkCopy(schema, table string, files []File) error {
	if len(files) > 0 && p.s3 == nil {
		return fmt.Errorf("copy into %s.%s: the PostgreSQL warehouse %s was opened without an S3 client", schema, table, p.name)
	}
	for _, f := range files {
		bucket, _, _ := strings.Cut(strings.TrimPrefix(f.URL, "s3://"), "/")
		if err := p.checkRegion(bucket); err != nil {
			return fmt.Errorf("copy %s into %s.%s: %w", f.URL, schema, table, err)
		}
	}
	return nil
}

// copyOn runs the COPY on conn, in one transaction.
func (p *Postgres) copyOn(ctx context.Context, conn *pgx.Conn, schema, table string, files []File) (int64, error) {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("copy into %s.%s in %s: begin: %w", schema, table, p.name, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	stmt := "COPY " + pgTable(schema, table) + " FROM STDIN WITH " + csvOptions
	var total int64
	for _, f := range files {
		n, err := p.copyFile(ctx, conn.PgConn(), stmt, f)
		if err != nil {
			if missingRelation(err) != nil {
				return 0, fmt.Errorf("copy %s: %w", f.URL, &TableNotFoundError{Database: p.name, Schema: schema, Table: table})
			}
			return 0, fmt.Errorf("copy %s into %s.%s in %s: %w", f.URL, schema, table, p.name, err)
		}
		total += n
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("copy into %s.%s in %s: commit: %w", schema, table, p.name, err)
	}
	return total, nil
}

func (p *Postgres) copyFile(ctx context.Context, conn *pgconn.PgConn, stmt string, f File) (int64, error) {
	rest, ok := strings.CutPrefix(f.URL, "s3://")
	bucket, key, _ := strings.Cut(rest, "/")
	if !ok || bucket == "" || key == "" {
		return 0, errors.New("not an s3://bucket/key URL")
	}
	out, err := p.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return 0, err
	}
	defer out.Body.Close()
	gz, err := gzip.NewReader(out.Body)
	if err != nil {
		return 0, fmt.Errorf("gunzip: %w", err)
	}
	tag, err := conn.CopyFrom(ctx, gz, stmt)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

// Exec runs statements in one transaction: all or none. The transaction runs at
// REPEATABLE READ, PostgreSQL's snapshot isolation, as Redshift's transactions do
// ("SNAPSHOT isolation is the default isolation level when creating provisioned
// clusters and serverless workgroups", Redshift DG "Isolation levels"; there is no
// READ COMMITTED there): a transaction sees one snapshot from its first statement on,
// and of two concurrent ones that write the same row, the later fails. At PostgreSQL's
// default, READ COMMITTED, a check such as the Federator's swap makes could pass and
// its writes then apply to rows another transaction had just replaced.
func (p *Postgres) Exec(ctx context.Context, statements ...string) error {
	if len(statements) == 0 {
		return nil
	}
	conn, err := p.connect(ctx)
	if err != nil {
		return err
	}
	defer p.release(conn)
	return p.execOn(ctx, conn, statements)
}

// execOn runs Exec's transaction on conn.
func (p *Postgres) execOn(ctx context.Context, conn *pgx.Conn, statements []string) error {
	// What Redshift refuses fails here, before PostgreSQL (which would accept it)
	// sees it: several statements are one transaction block, as on the Data API.
	if err := checkRedshiftDDL(ctx, p.name, statements, columnTypeOn(conn)); err != nil {
		return fmt.Errorf("exec on %s: %w", p.name, err)
	}
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead})
	if err != nil {
		return fmt.Errorf("exec on %s: begin: %w", p.name, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	for i, stmt := range statements {
		if _, err := tx.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("exec statement %d of %d on %s (%s), rolled back: %w", i+1, len(statements), p.name, abbreviate(stmt), err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("exec on %s: commit: %w", p.name, err)
	}
	return nil
}

// Query runs one statement (the extended protocol refuses several) and returns its
// rows as text. A missing table is a *TableNotFoundError named from the server's
// message.
func (p *Postgres) Query(ctx context.Context, statement string) ([][]*string, error) {
	conn, err := p.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer p.release(conn)
	if err := checkRedshiftDDL(ctx, p.name, []string{statement}, columnTypeOn(conn)); err != nil {
		return nil, fmt.Errorf("query on %s: %w", p.name, err)
	}
	res := conn.PgConn().ExecParams(ctx, statement, nil, nil, nil, nil).Read()
	if res.Err != nil {
		if pe := missingRelation(res.Err); pe != nil {
			schema, table := relationNamed(pe.Message)
			return nil, fmt.Errorf("query on %s: %w", p.name, &TableNotFoundError{Database: p.name, Schema: schema, Table: table})
		}
		return nil, fmt.Errorf("query on %s (%s): %w", p.name, abbreviate(statement), res.Err)
	}
	out := make([][]*string, len(res.Rows))
	for i, row := range res.Rows {
		out[i] = make([]*string, len(row))
		for j, v := range row {
			if v != nil {
				s := string(v)
				out[i][j] = &s
			}
		}
	}
	return out, nil
}

var quotedName = regexp.MustCompile(`"([^"]*)"`)

// relationNamed reads the name out of `relation "s.t" does not exist` or
// `schema "s" does not exist`.
func relationNamed(msg string) (schema, table string) {
	m := quotedName.FindStringSubmatch(msg)
	if m == nil {
		return "", ""
	}
	if strings.HasPrefix(msg, "schema ") {
		return m[1], ""
	}
	if s, t, ok := strings.Cut(m[1], "."); ok {
		return s, t
	}
	return "", m[1]
}

// abbreviate keeps error messages readable when a statement is long.
func abbreviate(stmt string) string {
	stmt = strings.Join(strings.Fields(stmt), " ")
	if len(stmt) > 120 {
		return stmt[:117] + "..."
	}
	return stmt
}
