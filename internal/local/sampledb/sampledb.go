// Package sampledb creates the offline demo's sample source database, shaped like the
// data warehouse in shared/seeds/000 (projects, users, files, file downloads), and takes its snapshots.
package sampledb

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// Database is the sample source database's name.
const Database = "warehouse"

// Tables in dependency order.
var Tables = []string{"projects", "users", "files", "file_downloads"}

var ddl = []string{
	`CREATE TABLE projects (
		id BIGINT NOT NULL PRIMARY KEY,
		name VARCHAR(200) NOT NULL,
		owner_id BIGINT NOT NULL,
		created_on DATETIME NOT NULL,
		description TEXT NULL,
		storage_quota_gb DECIMAL(12,2) NULL
	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
	`CREATE TABLE users (
		id BIGINT NOT NULL PRIMARY KEY,
		user_name VARCHAR(100) NOT NULL,
		display_name VARCHAR(200) NOT NULL,
		created_on DATETIME NOT NULL,
		last_login DATETIME NULL,
		is_certified TINYINT(1) NOT NULL
	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
	`CREATE TABLE files (
		id BIGINT NOT NULL PRIMARY KEY,
		project_id BIGINT NOT NULL,
		name VARCHAR(255) NOT NULL,
		content_type VARCHAR(100) NULL,
		content_size BIGINT UNSIGNED NOT NULL,
		storage_cost DECIMAL(12,4) NOT NULL,
		created_by BIGINT NOT NULL,
		created_on DATETIME(3) NOT NULL,
		KEY files_project (project_id)
	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
	`CREATE TABLE file_downloads (
		id BIGINT NOT NULL PRIMARY KEY,
		file_id BIGINT NOT NULL,
		project_id BIGINT NOT NULL,
		user_id BIGINT NOT NULL,
		downloaded_at DATETIME NOT NULL,
		client ENUM('web','python','r','cli') NOT NULL,
		bytes BIGINT UNSIGNED NOT NULL,
		KEY downloads_project (project_id, downloaded_at)
	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
}

// Sizes splits a total row count over the four tables.
type Sizes struct{ Projects, Users, Files, Downloads int }

// SizesFor returns table sizes adding up to about total rows.
func SizesFor(total int) Sizes {
	s := Sizes{Projects: max(total/1000, 10), Users: max(total/20, 20), Files: max(total/4, 40)}
	s.Downloads = max(total-s.Projects-s.Users-s.Files, 100)
	return s
}

// Total is the number of rows in all tables.
func (s Sizes) Total() int { return s.Projects + s.Users + s.Files + s.Downloads }

// Base is the day the sample history starts.
var Base = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// Exists reports whether the sample database has been created.
func Exists(ctx context.Context, db *sql.DB) (bool, error) {
	var n int
	err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME IN ('projects','users','files','file_downloads')`, Database).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("look for database %s: %w", Database, err)
	}
	return n == len(Tables), nil
}

// staging is where Create builds the tables before moving them into Database in one
// atomic RENAME, so an interrupted Create never leaves a half-filled sample behind.
const staging = Database + "_staging"

// Create makes the sample database with deterministic rows, generated inside MariaDB
// by its sequence engine (seq_1_to_N), which is far faster than client inserts. An
// existing, incomplete database is dropped first.
func Create(ctx context.Context, db *sql.DB, s Sizes) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close()
	stmts := []string{
		"SET SESSION sql_mode = ''", // the sample has zero dates, as old MySQL data does
		"SET SESSION unique_checks = 0",
		"DROP DATABASE IF EXISTS " + staging,
		"CREATE DATABASE " + staging + " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
		"USE " + staging,
	}
	stmts = append(stmts, ddl...)
	stmts = append(stmts,
		fmt.Sprintf(`INSERT INTO projects SELECT seq,
			CONCAT(ELT(1 + seq %% 6, 'Genomics of ', 'Imaging ', 'Proteomics ', 'Cohort ', 'Étude ', 'データ '), 'project ', seq),
			1 + (seq * 7919) %% %[2]d,
			TIMESTAMP('2024-01-01') + INTERVAL (seq * 37) %% 600 DAY + INTERVAL (seq * 13) %% 86400 SECOND,
			IF(seq %% 5 = 0, NULL, CONCAT('Shared data for study ', seq, ' — naïve café 🧬')),
			IF(seq %% 7 = 0, NULL, ((seq * 104729) %% 1000000) / 100)
			FROM seq_1_to_%[1]d`, s.Projects, s.Users),
		fmt.Sprintf(`INSERT INTO users SELECT seq,
			CONCAT('user', seq),
			CONCAT(ELT(1 + seq %% 8, 'Ada', 'José', 'Zoë', 'Björn', 'Renée', '李', 'Ngozi', 'Łukasz'), ' ',
			       ELT(1 + (seq DIV 8) %% 6, 'Lovelace', 'Núñez', 'Ødegaard', 'Müller', 'O''Brien', '🚀 Launch')),
			TIMESTAMP('2024-01-01') + INTERVAL (seq * 31) %% 600 DAY + INTERVAL (seq * 17) %% 86400 SECOND,
			CASE WHEN seq %% 11 = 0 THEN NULL WHEN seq %% 13 = 0 THEN '0000-00-00 00:00:00'
			     ELSE TIMESTAMP('2025-06-01') + INTERVAL (seq * 29) %% 500 DAY + INTERVAL (seq * 19) %% 86400 SECOND END,
			seq %% 3 = 0
			FROM seq_1_to_%d`, s.Users),
		fmt.Sprintf(`INSERT INTO files SELECT seq,
			1 + (seq * 2654435761) %% %[2]d,
			CONCAT('file_', seq, ELT(1 + seq %% 5, '.csv', '.bam', '.tiff', '.vcf.gz', '.txt')),
			IF(seq %% 9 = 0, NULL, ELT(1 + seq %% 5, 'text/csv', 'application/octet-stream', 'image/tiff', 'application/gzip', 'text/plain')),
			(seq * 1000003) %% 5000000000,
			((seq * 7) %% 100000) / 10000,
			1 + (seq * 40503) %% %[3]d,
			TIMESTAMP('2024-01-01') + INTERVAL (seq * 41) %% 650 DAY + INTERVAL ((seq * 7919) %% 86400000) * 1000 MICROSECOND
			FROM seq_1_to_%[1]d`, s.Files, s.Projects, s.Users),
		downloadsInsert(staging, 1, s.Downloads, s, "TIMESTAMP('2024-01-01') + INTERVAL (seq * 43) % 680 DAY + INTERVAL (seq * 11) % 86400 SECOND"),
		"DROP DATABASE IF EXISTS "+Database,
		"CREATE DATABASE "+Database+" CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
	)
	var renames []string
	for _, t := range Tables {
		renames = append(renames, fmt.Sprintf("%s.%s TO %s.%s", staging, t, Database, t))
	}
	stmts = append(stmts, "RENAME TABLE "+strings.Join(renames, ", "), "DROP DATABASE "+staging)
	for _, q := range stmts {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("create sample database: %s: %w", firstLine(q), err)
		}
	}
	return nil
}

// downloadsInsert inserts downloads with ids from first to first+n-1.
func downloadsInsert(database string, first, n int, s Sizes, when string) string {
	return fmt.Sprintf(`INSERT INTO %[1]s.file_downloads SELECT %[2]d + seq - 1,
		1 + (seq * 48271 + %[2]d) %% %[4]d,
		1 + (seq * 16807 + %[2]d) %% %[5]d,
		1 + (seq * 69621 + %[2]d) %% %[6]d,
		%[7]s,
		ELT(1 + (seq + %[2]d) %% 4, 'web', 'python', 'r', 'cli'),
		(seq * 9973) %% 2000000000
		FROM %[1]s.seq_1_to_%[3]d`, database, first, n, s.Files, s.Projects, s.Users, when)
}

// AddDay appends one day of downloads (about 1% of the table) dated day, so each
// night's snapshot differs from the last. It returns how many rows it added.
func AddDay(ctx context.Context, db *sql.DB, day time.Time) (int, error) {
	var s Sizes
	var maxID sql.NullInt64
	err := db.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM warehouse.projects), (SELECT COUNT(*) FROM warehouse.users),
		(SELECT COUNT(*) FROM warehouse.files), (SELECT COUNT(*) FROM warehouse.file_downloads), (SELECT MAX(id) FROM warehouse.file_downloads)`).
		Scan(&s.Projects, &s.Users, &s.Files, &s.Downloads, &maxID)
	if err != nil {
		return 0, fmt.Errorf("size sample database: %w", err)
	}
	if s.Projects == 0 || s.Users == 0 || s.Files == 0 {
		return 0, fmt.Errorf("add a day of downloads: sample database %s is empty", Database)
	}
	n := max(s.Downloads/100, 10)
	when := fmt.Sprintf("TIMESTAMP('%s') + INTERVAL (seq * 7) %% 86400 SECOND", day.UTC().Format("2006-01-02"))
	if _, err := db.ExecContext(ctx, downloadsInsert(Database, int(maxID.Int64)+1, n, s, when)); err != nil {
		return 0, fmt.Errorf("add downloads of %s: %w", day.Format("2006-01-02"), err)
	}
	return n, nil
}

// Snapshot copies every table of database source into schema target in one
// consistent read, the offline stand-in for an RDS snapshot. An existing target is replaced.
func Snapshot(ctx context.Context, db *sql.DB, source, target string) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close()
	src, dst := quote(source), quote(target)
	tables, err := baseTables(ctx, conn, source)
	if err != nil {
		return err
	}
	if len(tables) == 0 {
		return fmt.Errorf("snapshot %s: database has no tables", source)
	}
	setup := []string{
		"SET SESSION sql_mode = ''",
		"DROP DATABASE IF EXISTS " + dst,
		"CREATE DATABASE " + dst + " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
	}
	for _, t := range tables {
		setup = append(setup, fmt.Sprintf("CREATE TABLE %s.%s LIKE %s.%s", dst, quote(t), src, quote(t)))
	}
	for _, q := range setup {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("snapshot %s into %s: %s: %w", source, target, q, err)
		}
	}
	// One transaction: every table is read as of the same moment.
	if _, err := conn.ExecContext(ctx, "START TRANSACTION WITH CONSISTENT SNAPSHOT"); err != nil {
		return fmt.Errorf("snapshot %s: begin: %w", source, err)
	}
	for _, t := range tables {
		q := fmt.Sprintf("INSERT INTO %s.%s SELECT * FROM %s.%s", dst, quote(t), src, quote(t))
		if _, err := conn.ExecContext(ctx, q); err != nil {
			_, _ = conn.ExecContext(ctx, "ROLLBACK")
			return fmt.Errorf("snapshot %s.%s: %w", source, t, err)
		}
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("snapshot %s: commit: %w", source, err)
	}
	return nil
}

// UserDatabases are the databases an instance's snapshot holds, sorted: every
// schema with a base table but MariaDB's own, the snapshot copies (snap_...) and
// the sample's staging schema while it is being created.
func UserDatabases(ctx context.Context, db *sql.DB) ([]string, error) {
	rows, err := db.QueryContext(ctx, `SELECT DISTINCT TABLE_SCHEMA FROM information_schema.TABLES
		WHERE TABLE_TYPE = 'BASE TABLE'
		  AND TABLE_SCHEMA NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys', ?)
		  AND TABLE_SCHEMA NOT LIKE 'snap\_%'
		ORDER BY TABLE_SCHEMA`, staging)
	if err != nil {
		return nil, fmt.Errorf("list the databases: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, fmt.Errorf("list the databases: %w", err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// DropSchema removes a snapshot schema.
func DropSchema(ctx context.Context, db *sql.DB, schema string) error {
	if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+quote(schema)); err != nil {
		return fmt.Errorf("drop %s: %w", schema, err)
	}
	return nil
}

// Counts returns the row count of every base table in schema.
func Counts(ctx context.Context, db *sql.DB, schema string) (map[string]int64, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	defer conn.Close()
	tables, err := baseTables(ctx, conn, schema)
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for _, t := range tables {
		var n int64
		if err := conn.QueryRowContext(ctx, fmt.Sprintf("SELECT COUNT(*) FROM %s.%s", quote(schema), quote(t))).Scan(&n); err != nil {
			return nil, fmt.Errorf("count %s.%s: %w", schema, t, err)
		}
		out[t] = n
	}
	return out, nil
}

func baseTables(ctx context.Context, conn *sql.Conn, schema string) ([]string, error) {
	rows, err := conn.QueryContext(ctx, `SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME`, schema)
	if err != nil {
		return nil, fmt.Errorf("list tables of %s: %w", schema, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, fmt.Errorf("list tables of %s: %w", schema, err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// quote makes a MySQL identifier safe to splice into SQL.
func quote(id string) string { return "`" + strings.ReplaceAll(id, "`", "``") + "`" }

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i > 0 {
		return s[:i]
	}
	return s
}
