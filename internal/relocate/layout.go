package relocate

import (
	"net/url"
	"path"
	"strings"
)

// manifestName is the file Run writes at the export root, before it deletes anything,
// listing every table file of the export. A re-run after a crash reads it to tell this
// export's files (already moved, sources gone) from an earlier export's leftovers in
// the same partition, which are deleted. Glue never sees it: it is outside DestPrefix.
const manifestName = "_snaplake_relocate_manifest.json"

// tableFile splits a key relative to the export root into the table it belongs to.
// ok is false for export metadata, _SUCCESS markers, folder markers and anything not
// under a <database>/<database>.<table>/ base prefix: those stay where they are.
func tableFile(rel string) (db, table, rest string, ok bool) {
	base := path.Base(rel)
	if strings.HasSuffix(rel, "/") || base == "_SUCCESS" ||
		strings.HasPrefix(base, "export_info") || strings.HasPrefix(base, "export_tables_info") {
		return "", "", "", false
	}
	db, after, found := strings.Cut(rel, "/")
	if !found || db == "" {
		return "", "", "", false
	}
	dbTable, rest, found := strings.Cut(after, "/")
	if !found || rest == "" {
		return "", "", "", false
	}
	table, found = strings.CutPrefix(dbTable, db+".")
	if !found || table == "" {
		return "", "", "", false
	}
	return db, table, rest, true
}

// partitionPrefix is the destination folder of one table for one snapshot date.
// It ends with "/" so that customer/ never matches customer_address/.
func partitionPrefix(destPrefix, db, table, date string) string {
	return tablePrefix(destPrefix, db, table) + "snapshot_date=" + date + "/"
}

func tablePrefix(destPrefix, db, table string) string {
	return destPrefix + db + "/" + table + "/"
}

// copySource is the x-amz-copy-source value for bucket/key: every byte outside the
// unreserved set is percent-encoded except "/", so '=', ' ' and '+' survive servers
// that decode with query rules ('+' as space) as well as S3.
func copySource(bucket, key string) string {
	var b strings.Builder
	b.Grow(len(bucket) + 1 + len(key)*3/2)
	b.WriteString(url.PathEscape(bucket))
	b.WriteByte('/')
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '-', c == '_', c == '.', c == '~', c == '/':
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}
