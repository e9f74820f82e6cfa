package archive

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/go-sql-driver/mysql"
)

// TableSize is one table of `snaplake archive sizes`: its size as information_schema
// estimates it, and what the archive section would reclaim from it.
type TableSize struct {
	Table string `json:"table"` // database.table
	// Rows is information_schema's TABLE_ROWS: InnoDB's estimate, often 10% off.
	Rows int64 `json:"rows"`
	// DataBytes, IndexBytes and FreeBytes are DATA_LENGTH, INDEX_LENGTH and
	// DATA_FREE (space allocated to the table and not used); TotalBytes is data and
	// index.
	DataBytes  int64 `json:"dataBytes"`
	IndexBytes int64 `json:"indexBytes"`
	TotalBytes int64 `json:"totalBytes"`
	FreeBytes  int64 `json:"freeBytes"`
	// Archive is what the config would reclaim; nil for a table it does not name.
	Archive *Reclaim `json:"archive,omitempty"`
}

// Reclaim is what a run of the archive section would move out of a table now.
type Reclaim struct {
	Retention string `json:"retention"`
	Column    string `json:"column"`
	// Cutoff is the day whose start the rows archived are before (YYYY-MM-DD, UTC).
	Cutoff string `json:"cutoff"`
	// Rows is COUNT(*) of the rows older than the cutoff: exact, and a scan of the
	// table where the column has no index.
	Rows int64 `json:"rows"`
	// Bytes estimates their share of the table's data and index: Rows times
	// (data + index) / the estimated rows.
	Bytes int64 `json:"bytes"`
	// Error says why the table cannot be counted (no such table or column...);
	// Rows and Bytes are then 0.
	Error string `json:"error,omitempty"`
}

// Sizes lists the top largest base tables of the server (data and index), and with a
// config every table it configures, largest first, with what a run at now would
// reclaim from each. It reads information_schema and counts with SELECT COUNT(*):
// nothing is changed. The connection's session reads TIMESTAMP columns in UTC, as the
// cutoff is, and on MySQL 8 asks for current statistics rather than cached ones
// (information_schema_stats_expiry = 0). A configured table that cannot be counted
// has its Archive.Error set; the returned error is only for failed queries.
func Sizes(ctx context.Context, db *sql.DB, c *Config, now time.Time, top int) ([]TableSize, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SET time_zone = '+00:00'"); err != nil {
		return nil, fmt.Errorf("set the session's time zone to UTC: %w", err)
	}
	// MySQL 8 caches TABLE_ROWS and the lengths for a day by default; MariaDB has no
	// such cache, nor the variable (ER_UNKNOWN_SYSTEM_VARIABLE).
	if _, err := conn.ExecContext(ctx, "SET SESSION information_schema_stats_expiry = 0"); err != nil {
		var me *mysql.MySQLError
		if !errors.As(err, &me) || me.Number != 1193 {
			return nil, fmt.Errorf("ask for current table statistics: %w", err)
		}
	}

	byName := map[string]*TableSize{}
	err = each(ctx, conn, `SELECT TABLE_SCHEMA, TABLE_NAME, COALESCE(TABLE_ROWS, 0), COALESCE(DATA_LENGTH, 0), COALESCE(INDEX_LENGTH, 0), COALESCE(DATA_FREE, 0)
		FROM information_schema.TABLES
		WHERE TABLE_TYPE = 'BASE TABLE' AND TABLE_SCHEMA NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys')
		ORDER BY COALESCE(DATA_LENGTH, 0) + COALESCE(INDEX_LENGTH, 0) DESC, TABLE_SCHEMA, TABLE_NAME
		LIMIT ?`, []any{top}, func(rows *sql.Rows) error {
		var schema, table string
		var s TableSize
		if err := rows.Scan(&schema, &table, &s.Rows, &s.DataBytes, &s.IndexBytes, &s.FreeBytes); err != nil {
			return err
		}
		s.Table = schema + "." + table
		s.TotalBytes = s.DataBytes + s.IndexBytes
		byName[s.Table] = &s
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list the largest tables: %w", err)
	}
	if c != nil {
		for _, name := range slices.Sorted(maps.Keys(c.Tables)) {
			if err := c.reclaim(ctx, conn, name, now, byName); err != nil {
				return nil, fmt.Errorf("size of table %s: %w", name, err)
			}
		}
	}
	out := make([]TableSize, 0, len(byName))
	for _, s := range byName {
		out = append(out, *s)
	}
	slices.SortFunc(out, func(a, b TableSize) int {
		return cmp.Or(cmp.Compare(b.TotalBytes, a.TotalBytes), cmp.Compare(a.Table, b.Table))
	})
	return out, nil
}

// reclaim counts what the configured table name would give up at now, adding the
// table to byName if it is not among the largest.
func (c *Config) reclaim(ctx context.Context, q Querier, name string, now time.Time, byName map[string]*TableSize) error {
	tc := c.Tables[name]
	retention, err := ParseRetention(tc.Retention)
	if err != nil {
		return err // Validate refuses it before
	}
	cutoff := retention.Cutoff(now)
	r := &Reclaim{Retention: tc.Retention, Column: tc.Column, Cutoff: cutoff.Format(time.DateOnly)}
	s := byName[name]
	if s == nil {
		s = &TableSize{Table: name}
		byName[name] = s
	}
	s.Archive = r
	schema, table, err := SplitTable(name)
	if err != nil {
		return err // Validate refuses it before
	}
	info, err := describe(ctx, q, schema, table)
	if err != nil {
		return err
	}
	if info == nil {
		r.Error = "no such table, or the user has no privilege on it"
		return nil
	}
	s.Rows, s.DataBytes, s.IndexBytes, s.FreeBytes = info.rows, info.data, info.index, info.free
	s.TotalBytes = s.DataBytes + s.IndexBytes
	col := info.column(tc.Column)
	switch {
	case info.kind != "BASE TABLE":
		r.Error = fmt.Sprintf("a %s, not a base table", info.kind)
		return nil
	case col == nil:
		r.Error = fmt.Sprintf("no column %s, or the user cannot see it", tc.Column)
		return nil
	case !temporalTypes[col.dataType]:
		r.Error = fmt.Sprintf("column %s is %s, not DATETIME, TIMESTAMP or DATE", col.name, col.columnType)
		return nil
	}
	err = each(ctx, q, "SELECT COUNT(*) FROM "+quoteTable(schema, table)+" WHERE "+quoteName(col.name)+" < ?",
		[]any{cutoff.Format(time.DateTime)}, func(rows *sql.Rows) error { return rows.Scan(&r.Rows) })
	if err != nil {
		var me *mysql.MySQLError
		if errors.As(err, &me) && deniedErrors[me.Number] {
			r.Error = me.Message
			return nil
		}
		return err
	}
	if s.Rows > 0 {
		// The estimate of the rows can be below the count: at most the whole table.
		r.Bytes = min(s.TotalBytes, int64(float64(r.Rows)*float64(s.TotalBytes)/float64(s.Rows)))
	}
	return nil
}
