// Package mysqlparquet streams MySQL and MariaDB tables into Parquet files typed the
// way RDS snapshot export types them; it knows nothing of S3 or RDS.
package mysqlparquet

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/encoding"
)

// TableNotFoundError reports a schema or table that does not exist. Table is
// empty when the schema itself is missing.
type TableNotFoundError struct {
	Schema, Table string
}

func (e *TableNotFoundError) Error() string {
	if e.Table == "" {
		return fmt.Sprintf("schema %q not found", e.Schema)
	}
	return fmt.Sprintf("table %q.%q not found", e.Schema, e.Table)
}

// QuoteIdentifier quotes a schema, table or column name for MySQL, doubling
// backticks inside it, so that any name can be used in generated SQL.
func QuoteIdentifier(name string) string {
	return "`" + strings.ReplaceAll(name, "`", "``") + "`"
}

// Column describes one table column and the Parquet type it is exported as.
type Column struct {
	Name      string
	MySQLType string // information_schema COLUMN_TYPE, e.g. "decimal(12,2) unsigned"
	DataType  string // information_schema DATA_TYPE, e.g. "decimal"
	Nullable  bool
	Precision int // numeric precision, 0 when not numeric
	Scale     int
	// CharMaxLength and DateTimePrecision feed the export's type report.
	CharMaxLength     int64
	DateTimePrecision int
	// ParquetType uses the notation of RDS export_tables_info
	// expectedExportedType: "int32", "int64", "double", "binary",
	// "binary (UTF8)", "int32 (DATE)", "int64 (TIMESTAMP_MICROS)",
	// "int64 (DECIMAL(12,2))", "fixed_len_byte_array(9) (DECIMAL(20,0))".
	ParquetType string

	kind     kind
	flbaSize int // bytes of a fixed_len_byte_array decimal
}

// kind is how a column's text value is converted.
type kind int

const (
	kindString kind = iota
	kindBytes
	kindInt32
	kindInt64
	kindDecimal32
	kindDecimal64
	kindDecimalFixed // also BIGINT UNSIGNED, as DECIMAL(20,0)
	kindDouble
	kindDate
	kindTimestamp
)

// Tables lists the base tables (not views) of schema, sorted by name.
func Tables(ctx context.Context, db *sql.DB, schema string) ([]string, error) {
	if err := schemaExists(ctx, db, schema); err != nil {
		return nil, err
	}
	rows, err := db.QueryContext(ctx,
		"SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE'", schema)
	if err != nil {
		return nil, fmt.Errorf("list tables of schema %q: %w", schema, err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("list tables of schema %q: %w", schema, err)
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tables of schema %q: %w", schema, err)
	}
	sort.Strings(names)
	return names, nil
}

func schemaExists(ctx context.Context, db *sql.DB, schema string) error {
	var n int
	err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", schema).Scan(&n)
	if err != nil {
		return fmt.Errorf("look up schema %q: %w", schema, err)
	}
	if n == 0 {
		return &TableNotFoundError{Schema: schema}
	}
	return nil
}

// Columns returns the columns of schema.table in table order, with the
// Parquet type each is exported as.
func Columns(ctx context.Context, db *sql.DB, schema, table string) ([]Column, error) {
	rows, err := db.QueryContext(ctx, `SELECT COLUMN_NAME, COLUMN_TYPE, DATA_TYPE, IS_NULLABLE,
		NUMERIC_PRECISION, NUMERIC_SCALE, CHARACTER_MAXIMUM_LENGTH, DATETIME_PRECISION, CHARACTER_SET_NAME
		FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`, schema, table)
	if err != nil {
		return nil, fmt.Errorf("read columns of %s.%s: %w", schema, table, err)
	}
	defer rows.Close()
	var cols []Column
	for rows.Next() {
		var (
			c                         Column
			nullable                  string
			prec, scale, maxLen, dtPr sql.NullInt64
			charset                   sql.NullString
		)
		if err := rows.Scan(&c.Name, &c.MySQLType, &c.DataType, &nullable, &prec, &scale, &maxLen, &dtPr, &charset); err != nil {
			return nil, fmt.Errorf("read columns of %s.%s: %w", schema, table, err)
		}
		c.DataType = strings.ToLower(c.DataType)
		c.Nullable = nullable == "YES"
		c.Precision, c.Scale = int(prec.Int64), int(scale.Int64)
		c.CharMaxLength, c.DateTimePrecision = maxLen.Int64, int(dtPr.Int64)
		mapType(&c, charset.Valid && charset.String != "binary")
		cols = append(cols, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read columns of %s.%s: %w", schema, table, err)
	}
	if len(cols) == 0 {
		if err := schemaExists(ctx, db, schema); err != nil {
			return nil, err
		}
		return nil, &TableNotFoundError{Schema: schema, Table: table}
	}
	return cols, nil
}

// mapType follows the RDS "MySQL and MariaDB data type mapping to Parquet"
// table, with two deliberate differences: DATE is a Parquet DATE rather than a
// string, and zero dates ('0000-00-00', '2020-00-00 ...') become NULL, which
// is why date and time columns are always optional in the Parquet schema.
func mapType(c *Column, hasCharset bool) {
	unsigned := strings.Contains(strings.ToLower(c.MySQLType), "unsigned")
	switch c.DataType {
	case "tinyint", "smallint":
		c.kind, c.ParquetType = kindInt32, "int32"
	case "mediumint", "int", "integer":
		if unsigned {
			c.kind, c.ParquetType = kindInt64, "int64"
		} else {
			c.kind, c.ParquetType = kindInt32, "int32"
		}
	case "bigint":
		if unsigned {
			// Parquet has no unsigned 64-bit type Athena reads; RDS widens to DECIMAL(20,0).
			c.kind, c.flbaSize = kindDecimalFixed, 9
			c.Precision, c.Scale = 20, 0
			c.ParquetType = "fixed_len_byte_array(9) (DECIMAL(20,0))"
		} else {
			c.kind, c.ParquetType = kindInt64, "int64"
		}
	case "decimal", "numeric":
		dec := fmt.Sprintf("DECIMAL(%d,%d)", c.Precision, c.Scale)
		switch {
		case c.Precision <= 9:
			c.kind, c.ParquetType = kindDecimal32, "int32 ("+dec+")"
		case c.Precision <= 18:
			c.kind, c.ParquetType = kindDecimal64, "int64 ("+dec+")"
		case c.Precision <= 38:
			c.kind, c.flbaSize = kindDecimalFixed, decimalBytes(c.Precision)
			c.ParquetType = fmt.Sprintf("fixed_len_byte_array(%d) (%s)", c.flbaSize, dec)
		default:
			// Parquet decimals stop at precision 38.
			c.kind, c.ParquetType = kindString, "binary (UTF8)"
		}
	case "float", "double", "real", "double precision":
		c.kind, c.ParquetType = kindDouble, "double"
	case "year":
		c.kind, c.ParquetType = kindInt32, "int32"
	case "date":
		c.kind, c.ParquetType = kindDate, "int32 (DATE)"
	case "datetime", "timestamp":
		c.kind, c.ParquetType = kindTimestamp, "int64 (TIMESTAMP_MICROS)"
	case "bit", "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob",
		"geometry", "point", "linestring", "polygon", "multipoint", "multilinestring", "multipolygon", "geometrycollection":
		c.kind, c.ParquetType = kindBytes, "binary"
	case "char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set", "json", "time":
		c.kind, c.ParquetType = kindString, "binary (UTF8)"
	default:
		// Types added later (inet6, uuid, vector...) are text unless binary.
		if hasCharset || c.DataType == "inet6" || c.DataType == "inet4" || c.DataType == "uuid" {
			c.kind, c.ParquetType = kindString, "binary (UTF8)"
		} else {
			c.kind, c.ParquetType = kindBytes, "binary"
		}
	}
}

// HiveType is the column's type as Glue and Athena name it for the Parquet type it
// is written as (bigint, decimal(12,2), timestamp...).
func (c *Column) HiveType() string {
	switch c.kind {
	case kindBytes:
		return "binary"
	case kindInt32:
		return "int"
	case kindInt64:
		return "bigint"
	case kindDecimal32, kindDecimal64, kindDecimalFixed:
		return fmt.Sprintf("decimal(%d,%d)", max(c.Precision, 1), c.Scale)
	case kindDouble:
		return "double"
	case kindDate:
		return "date"
	case kindTimestamp:
		return "timestamp"
	default:
		return "string"
	}
}

// decimalBytes is the smallest two's-complement width holding precision digits.
func decimalBytes(precision int) int {
	for n := 1; n <= 16; n++ {
		// 2^(8n-1) > 10^precision  <=>  (8n-1)*log10(2) > precision
		if float64(8*n-1)*0.30102999566398120 > float64(precision) {
			return n
		}
	}
	return 16
}

// optional reports whether the Parquet column may hold nulls.
func (c *Column) optional() bool {
	return c.Nullable || c.kind == kindDate || c.kind == kindTimestamp
}

func (c *Column) node() parquet.Node {
	var n parquet.Node
	switch c.kind {
	case kindString:
		n = parquet.String()
	case kindBytes:
		n = parquet.Leaf(parquet.ByteArrayType)
	case kindInt32:
		n = parquet.Leaf(parquet.Int32Type)
	case kindInt64:
		n = parquet.Leaf(parquet.Int64Type)
	case kindDecimal32:
		n = parquet.Decimal(c.Scale, max(c.Precision, 1), parquet.Int32Type)
	case kindDecimal64:
		n = parquet.Decimal(c.Scale, c.Precision, parquet.Int64Type)
	case kindDecimalFixed:
		n = parquet.Decimal(c.Scale, c.Precision, parquet.FixedLenByteArrayType(c.flbaSize))
	case kindDouble:
		n = parquet.Leaf(parquet.DoubleType)
	case kindDate:
		n = parquet.Date()
	case kindTimestamp:
		n = parquet.Timestamp(parquet.Microsecond)
	}
	if c.optional() {
		return parquet.Optional(n)
	}
	return parquet.Required(n)
}

// parquetSchema builds the file schema, keeping the table's column order
// (parquet.Group would sort the columns by name).
func parquetSchema(table string, cols []Column) *parquet.Schema {
	g := &orderedGroup{fields: make([]parquet.Field, len(cols))}
	for i := range cols {
		g.fields[i] = &orderedField{Node: cols[i].node(), name: cols[i].Name, index: i}
	}
	return parquet.NewSchema(table, g)
}

type orderedGroup struct {
	fields []parquet.Field
}

func (g *orderedGroup) ID() int                     { return 0 }
func (g *orderedGroup) Type() parquet.Type          { return parquet.Group{}.Type() }
func (g *orderedGroup) Optional() bool              { return false }
func (g *orderedGroup) Repeated() bool              { return false }
func (g *orderedGroup) Required() bool              { return true }
func (g *orderedGroup) Leaf() bool                  { return false }
func (g *orderedGroup) Fields() []parquet.Field     { return g.fields }
func (g *orderedGroup) Encoding() encoding.Encoding { return nil }
func (g *orderedGroup) Compression() compress.Codec { return nil }
func (g *orderedGroup) GoType() reflect.Type        { return reflect.TypeFor[map[string]any]() }
func (g *orderedGroup) String() string {
	var b strings.Builder
	b.WriteString("{")
	for i, f := range g.fields {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(strconv.Quote(f.Name()) + " " + f.String())
	}
	b.WriteString("}")
	return b.String()
}

type orderedField struct {
	parquet.Node
	name  string
	index int
}

func (f *orderedField) Name() string { return f.name }

// Value supports map[string]any rows, the only Go shape this schema is used with.
func (f *orderedField) Value(base reflect.Value) reflect.Value {
	if base.Kind() == reflect.Interface || base.Kind() == reflect.Pointer {
		if base.IsNil() {
			return reflect.Value{}
		}
		base = base.Elem()
	}
	if base.Kind() == reflect.Map {
		return base.MapIndex(reflect.ValueOf(f.name))
	}
	return reflect.Value{}
}

var errZeroDate = errors.New("zero date")
