package redshift

import (
	"fmt"
	"regexp"
	"strings"
)

// The Redshift SQL the Data API implementation sends, as pure functions so that each
// statement is pinned by a golden file under testdata/sql/.
//
// Quoting. Identifiers are double-quoted with embedded double quotes doubled; Redshift
// does not treat a backslash in a quoted identifier as an escape. String literals are
// single-quoted with embedded single quotes doubled AND backslashes doubled: Redshift
// reads a backslash in an ordinary literal as an escape (its QUOTE_LITERAL "doubles any
// embedded single quotation marks and backslashes", Redshift DG "QUOTE_LITERAL
// function"), so a name or query ending in \' would otherwise close the literal and
// let the rest run as SQL. A NUL byte is refused: the server would cut the statement
// there.

// InvalidSQLInputError says a name, query, URL or role cannot be put into a statement.
type InvalidSQLInputError struct {
	What   string // "schema", "table", "query", "prefix", ...
	Value  string
	Reason string
}

func (e *InvalidSQLInputError) Error() string {
	return fmt.Sprintf("invalid %s %q: %s", e.What, e.Value, e.Reason)
}

// quoteIdent quotes a Redshift identifier: "a""b".
func quoteIdent(what, name string) (string, error) {
	if name == "" {
		return "", &InvalidSQLInputError{What: what, Value: name, Reason: "empty"}
	}
	if strings.ContainsRune(name, 0) {
		return "", &InvalidSQLInputError{What: what, Value: name, Reason: "contains a NUL byte"}
	}
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`, nil
}

// quoteLiteral quotes a Redshift string literal, doubling single quotes and backslashes.
func quoteLiteral(what, s string) (string, error) {
	if strings.ContainsRune(s, 0) {
		return "", &InvalidSQLInputError{What: what, Value: s, Reason: "contains a NUL byte"}
	}
	s = strings.ReplaceAll(s, `\`, `\\`)
	s = strings.ReplaceAll(s, `'`, `''`)
	return "'" + s + "'", nil
}

// tableName is "schema"."table".
func tableName(schema, table string) (string, error) {
	s, err := quoteIdent("schema", schema)
	if err != nil {
		return "", err
	}
	t, err := quoteIdent("table", table)
	if err != nil {
		return "", err
	}
	return s + "." + t, nil
}

// iamRoleClause is IAM_ROLE 'arn:...' or, for the role set as the cluster's default,
// IAM_ROLE default (Redshift DG "UNLOAD": IAM_ROLE { default | 'arn:...' }).
func iamRoleClause(iamRole string) (string, error) {
	if iamRole == "" {
		return "", &InvalidSQLInputError{What: "IAM role", Value: iamRole, Reason: "empty: UNLOAD and COPY need a role Redshift assumes to reach S3 (iam_role= in the URL)"}
	}
	if iamRole == "default" {
		return "IAM_ROLE default", nil
	}
	lit, err := quoteLiteral("IAM role", iamRole)
	if err != nil {
		return "", err
	}
	return "IAM_ROLE " + lit, nil
}

// regionName is the shape of an AWS Region name: us-east-1, eu-central-2,
// us-gov-west-1, cn-north-1.
var regionName = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)

// regionClause is REGION '<region>': the Region of the bucket UNLOAD writes to or COPY
// reads from. Without it Redshift addresses S3 in the warehouse's own Region, and a
// bucket elsewhere answers "The bucket you are attempting to access must be addressed
// using the specified endpoint." (Redshift DG "Load fails"); with it a warehouse in
// any Region reaches the lake. It is always written, also when the Regions are the
// same: which Region a warehouse is in is not known here, and the clause is then
// harmless.
func regionClause(region string) (string, error) {
	if region == "" {
		return "", &InvalidSQLInputError{What: "bucket Region", Value: region, Reason: "empty: UNLOAD and COPY name the lake bucket's Region (REGION), so that a warehouse in another Region reaches it"}
	}
	if !regionName.MatchString(region) {
		return "", &InvalidSQLInputError{What: "bucket Region", Value: region, Reason: "not an AWS Region name such as eu-west-1"}
	}
	return "REGION '" + region + "'", nil
}

// StatsSQL is the one metadata query of Warehouse.Stats: COUNT(*) and then MAX of each
// timestamp column asked (insertedColumn first), in that order; only COUNT(*) when
// neither is asked.
func StatsSQL(schema, table, insertedColumn, updatedColumn string) (string, error) {
	from, err := tableName(schema, table)
	if err != nil {
		return "", err
	}
	cols := []string{"COUNT(*)"}
	for _, c := range []struct{ what, name string }{{"inserted column", insertedColumn}, {"updated column", updatedColumn}} {
		if c.name == "" {
			continue
		}
		q, err := quoteIdent(c.what, c.name)
		if err != nil {
			return "", err
		}
		cols = append(cols, "MAX("+q+")")
	}
	return "SELECT " + strings.Join(cols, ", ") + "\nFROM " + from, nil
}

// ColumnsSQL lists the columns of schema.table in their order, from SVV_COLUMNS: the
// view Redshift documents for "the columns of local and external tables and views,
// including late-binding views" (Redshift DG "SVV_COLUMNS"). information_schema.columns
// is PostgreSQL's view, which Redshift's guide does not document and which misses
// late-binding views; PG_TABLE_DEF shows only schemas on the search_path.
//
// The columns are column_name, data_type, character_maximum_length,
// numeric_precision, numeric_scale, is_nullable (YES/NO); no row: no such table.
func ColumnsSQL(schema, table string) (string, error) {
	if schema == "" || table == "" {
		return "", &InvalidSQLInputError{What: "table", Value: schema + "." + table, Reason: "schema and table must both be named"}
	}
	s, err := quoteLiteral("schema", schema)
	if err != nil {
		return "", err
	}
	t, err := quoteLiteral("table", table)
	if err != nil {
		return "", err
	}
	return "SELECT column_name, data_type, character_maximum_length, numeric_precision, numeric_scale, is_nullable\n" +
		"FROM svv_columns\n" +
		"WHERE table_schema = " + s + " AND table_name = " + t + "\n" +
		"ORDER BY ordinal_position", nil
}

// UnloadSQL unloads the rows of query to prefix (s3://bucket/path/, ending in "/") in
// the common file format (redshift.go): CSV, no header, GZIP, NULL AS \N, plus
// MANIFEST VERBOSE, whose manifest at <prefix>manifest gives each file's row count
// and size (Redshift DG "UNLOAD").
//
// No ALLOWOVERWRITE: every unload goes to a new prefix, and UNLOAD "fails if it finds
// files that it would possibly overwrite", which is the guarantee wanted. PARALLEL ON
// (the default, stated) writes at least one file per slice; MAXFILESIZE 1 GB keeps
// each file within the size COPY loads best ("between 1 MB and 1 GB after
// compression", Redshift DG "Load takes too long").
//
// With kmsKeyID (the lake's key: its ARN or id), KMS_KEY_ID '<key>' ENCRYPTED makes
// the files SSE-KMS with that key: "To unload to Amazon S3 using server-side
// encryption with an AWS KMS key, use the KMS_KEY_ID parameter to provide the key ID"
// (Redshift DG "Unloading encrypted data files"). Without it UNLOAD writes SSE-S3
// ("UNLOAD automatically creates files using Amazon S3 server-side encryption with
// AWS managed encryption keys (SSE-S3)"), whatever the bucket's default key. The role
// Redshift assumes then needs kms:GenerateDataKey on the key to write (and
// kms:Decrypt for COPY to read).
//
// REGION names bucketRegion, the Region of the lake bucket (regionClause): "REGION
// [AS] 'aws-region'" is one of UNLOAD's options (Redshift DG "UNLOAD", Syntax).
//
// The query goes inside a string literal, so its quotes and backslashes are doubled
// (the server undoes exactly that before parsing it). Trailing semicolons and blanks
// are dropped, and a last line with a -- comment is ended with a newline; the outer
// SELECT cannot have a LIMIT (nest it).
func UnloadSQL(query, prefix, iamRole, kmsKeyID, bucketRegion string) (string, error) {
	q := strings.TrimRight(query, " \t\r\n;")
	if strings.TrimSpace(q) == "" {
		return "", &InvalidSQLInputError{What: "query", Value: query, Reason: "empty"}
	}
	if err := checkS3Prefix(prefix); err != nil {
		return "", err
	}
	if lastLine := q[strings.LastIndex(q, "\n")+1:]; strings.Contains(lastLine, "--") {
		// A line comment at the very end would run on over whatever Redshift puts
		// after the query when it runs it: end the line.
		q += "\n"
	}
	qlit, err := quoteLiteral("query", q)
	if err != nil {
		return "", err
	}
	to, err := quoteLiteral("prefix", prefix)
	if err != nil {
		return "", err
	}
	role, err := iamRoleClause(iamRole)
	if err != nil {
		return "", err
	}
	region, err := regionClause(bucketRegion)
	if err != nil {
		return "", err
	}
	encryption := ""
	if kmsKeyID != "" {
		key, err := quoteLiteral("KMS key", kmsKeyID)
		if err != nil {
			return "", err
		}
		encryption = "KMS_KEY_ID " + key + "\nENCRYPTED\n"
	}
	return "UNLOAD (" + qlit + ")\n" +
		"TO " + to + "\n" +
		role + "\n" +
		region + "\n" +
		encryption +
		"FORMAT CSV\n" +
		"GZIP\n" +
		`NULL AS '\\N'` + "\n" +
		"MANIFEST VERBOSE\n" +
		"PARALLEL ON\n" +
		"MAXFILESIZE 1 GB", nil
}

// CopySQL loads schema.table from the files a COPY manifest at manifestURL lists, in
// the common file format. MANIFEST makes the FROM URL a manifest; its entries are
// mandatory, so a missing file fails the load (Redshift DG "Using a manifest to
// specify data files"). TIMEFORMAT 'auto' reads the timestamps UNLOAD writes, with or
// without fractional seconds and zone offset. Without MAXERROR any bad row fails the
// whole COPY: all rows or none. REGION names bucketRegion, where the manifest and the
// files are: "If the Amazon S3 buckets that hold the data files don't reside in the
// same AWS Region as your cluster, you must use the REGION parameter to specify the
// Region in which the data is located." (Redshift DG "COPY from Amazon S3"; its
// syntax: FROM ... authorization | MANIFEST | ENCRYPTED | REGION [AS] 'aws-region').
// REGION is refused by a COPY of a columnar format (Parquet, ORC); this one is CSV.
func CopySQL(schema, table, manifestURL, iamRole, bucketRegion string) (string, error) {
	into, err := tableName(schema, table)
	if err != nil {
		return "", err
	}
	if _, _, err := splitS3URL(manifestURL); err != nil {
		return "", err
	}
	from, err := quoteLiteral("manifest URL", manifestURL)
	if err != nil {
		return "", err
	}
	role, err := iamRoleClause(iamRole)
	if err != nil {
		return "", err
	}
	region, err := regionClause(bucketRegion)
	if err != nil {
		return "", err
	}
	return "COPY " + into + "\n" +
		"FROM " + from + "\n" +
		role + "\n" +
		region + "\n" +
		"MANIFEST\n" +
		"FORMAT CSV\n" +
		"GZIP\n" +
		`NULL AS '\\N'` + "\n" +
		"TIMEFORMAT 'auto'", nil
}

// splitS3URL splits s3://bucket/key.
func splitS3URL(u string) (bucket, key string, err error) {
	rest, ok := strings.CutPrefix(u, "s3://")
	if !ok {
		return "", "", &InvalidSQLInputError{What: "S3 URL", Value: u, Reason: "does not start with s3://"}
	}
	bucket, key, _ = strings.Cut(rest, "/")
	if bucket == "" {
		return "", "", &InvalidSQLInputError{What: "S3 URL", Value: u, Reason: "names no bucket"}
	}
	return bucket, key, nil
}

func checkS3Prefix(prefix string) error {
	_, key, err := splitS3URL(prefix)
	if err != nil {
		return err
	}
	if key == "" || !strings.HasSuffix(key, "/") {
		return &InvalidSQLInputError{What: "prefix", Value: prefix, Reason: `must be s3://bucket/path/ (a folder below the bucket, ending in "/")`}
	}
	return nil
}
