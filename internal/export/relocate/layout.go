package relocate

import (
	"net/url"
	"path"
	"strings"

	"github.com/snaplake/snaplake/internal/deploy"
)

// manifestName is the file Run writes at the export root, before it deletes anything,
// listing every table file of the export. A re-run after a crash reads it to tell this
// export's files (already moved, sources gone) from an earlier export's leftovers in
// the same partition, which are deleted. Glue never sees it: it is outside DestPrefix.
const manifestName = deploy.RelocateManifestName

// tableFile splits a key relative to the export root into the table it belongs to.
// ok is false for export metadata, folder markers, anything not under a
// <database>/<database>.<table>/ base prefix, and hidden paths (a folder or file name
// starting with '_' or '.', such as _SUCCESS markers or a writer's _temporary/ folder):
// those stay where they are. Hidden paths are not data to Athena and Hive, and a moved
// file loses its folders (see partitionFileName), so moving one would make it visible.
func tableFile(rel string) (db, table, rest string, ok bool) {
	base := path.Base(rel)
	if strings.HasSuffix(rel, "/") || strings.HasPrefix(base, "export_info") || strings.HasPrefix(base, "export_tables_info") {
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
	for seg := range strings.SplitSeq(rest, "/") {
		if strings.HasPrefix(seg, "_") || strings.HasPrefix(seg, ".") {
			return "", "", "", false
		}
	}
	return db, table, rest, true
}

// tablesInfoFile reports whether rel (relative to the export root) is one of RDS's
// export_tables_info_<export-id>_from_<n>_to_<m>.json files, which sit at the root.
func tablesInfoFile(rel string) bool {
	return !strings.Contains(rel, "/") && strings.HasPrefix(rel, "export_tables_info_") && strings.HasSuffix(rel, ".json")
}

// partitionPrefix is the destination folder of one table for one snapshot date.
// It ends with "/" so that customer/ never matches customer_address/.
func partitionPrefix(destPrefix, db, table, date string) string {
	return tablePrefix(destPrefix, db, table) + "snapshot_date=" + date + "/"
}

func tablePrefix(destPrefix, db, table string) string {
	return destPrefix + db + "/" + table + "/"
}

// partitionFileName is the name a table file gets directly inside its snapshot_date
// partition, from rest, its path below the table's base prefix ("1/part-00000-….gz.parquet").
//
// A Glue crawler makes a partition column of every folder level below a table's
// include path: RDS's batch folder "1/" would become a partition_1 column of every
// table. So every folder of rest is folded into the name, as follows:
//
//	'/'                          -> '_'     1/part-00000-x.gz.parquet -> 1_part-00000-x.gz.parquet
//	'_' and '('                  -> "(5F)" and "(28)" (the byte in hex)
//	'/' or '.' as first byte     -> "(2F)" and "(2E)"
//	every other byte             -> itself
//
// The mapping is injective, so two files of one table never land on one name:
// every '(' of a result starts a 4-byte escape and every '_' stands for a '/', so
// parsePartitionFileName recovers rest from the name alone. The result never starts
// with '_' or '.' (Athena and Hive skip such files as hidden) and keeps the file's own
// name, and so its ".parquet" extension, as its suffix. RDS's names hold no '_' or
// '(', so the usual file reads as its batch and name joined by '_'.
func partitionFileName(rest string) string {
	var b strings.Builder
	b.Grow(len(rest) + 8)
	for i := 0; i < len(rest); i++ {
		switch c := rest[i]; {
		case i == 0 && (c == '/' || c == '.'), c == '_', c == '(':
			b.WriteByte('(')
			b.WriteByte(upperHex[c>>4])
			b.WriteByte(upperHex[c&15])
			b.WriteByte(')')
		case c == '/':
			b.WriteByte('_')
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

const upperHex = "0123456789ABCDEF"

// parsePartitionFileName inverts partitionFileName. ok is false for any name
// partitionFileName cannot produce (another export's file in the old nested layout,
// a stray upload): such an object is not one of the export's files.
func parsePartitionFileName(name string) (rest string, ok bool) {
	if name == "" || strings.Contains(name, "/") {
		return "", false
	}
	var b strings.Builder
	b.Grow(len(name))
	for i := 0; i < len(name); i++ {
		switch c := name[i]; c {
		case '_':
			b.WriteByte('/')
		case '(':
			if i+3 >= len(name) || name[i+3] != ')' {
				return "", false
			}
			hi, lo := strings.IndexByte(upperHex, name[i+1]), strings.IndexByte(upperHex, name[i+2])
			if hi < 0 || lo < 0 {
				return "", false
			}
			b.WriteByte(byte(hi<<4 | lo))
			i += 3
		default:
			b.WriteByte(c)
		}
	}
	rest = b.String()
	// Only the canonical spelling is ours: "(41)" decodes to "A" too, but a file of
	// this export named A is stored as "A", and "(41)" is somebody else's object.
	if partitionFileName(rest) != name {
		return "", false
	}
	return rest, true
}

// copySource is the x-amz-copy-source value for bucket/key: every byte outside the
// unreserved set is percent-encoded except "/", so '=', ' ' and '+' survive servers
// that decode with query rules ('+' as space) as well as S3.
func copySource(bucket, key string) string {
	var b strings.Builder
	b.Grow(len(bucket) + 1 + len(key)*3/2)
	b.WriteString(url.PathEscape(bucket))
	b.WriteByte('/')
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '-', c == '_', c == '.', c == '~', c == '/':
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(upperHex[c>>4])
			b.WriteByte(upperHex[c&15])
		}
	}
	return b.String()
}
