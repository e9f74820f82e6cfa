package ingest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"

	"github.com/snaplake/snaplake/internal/deploy"
)

// NormalizeName is the name Glue and Athena can use for a source table (or
// database): deploy.NormalizeName, where the stack's names are spelled.
func NormalizeName(source string) string { return deploy.NormalizeName(source) }

// nameHash is the stable suffix that tells apart sources normalized to one name.
func nameHash(source string, n int) string {
	sum := sha256.Sum256([]byte(source))
	return hex.EncodeToString(sum[:])[:n]
}

// LakeNames maps each source table to its lake table name. A name that normalizes
// to itself or to a name no other table has is just normalized. When several
// sources share a normalized name (customer-address and customer_address, Customer
// and customer), a source already equal to it keeps it and every other gets
// "_<8 hex digits of SHA-256 of the source name>": customer_address_1b4f0e98.
//
// kept holds the names the lake already uses (from State): each is kept while its
// source exists, and takes precedence, so a table's folder never changes when
// another table appears; a new colliding table gets the suffix instead.
func LakeNames(sources []string, kept map[string]string) (map[string]string, error) {
	sources = slices.Sorted(slices.Values(sources))
	out := make(map[string]string, len(sources))
	owner := map[string]string{} // lake name -> source
	for _, s := range sources {
		k, ok := kept[s]
		if !ok || k == "" {
			continue
		}
		if prev, taken := owner[k]; taken {
			return nil, fmt.Errorf("the lake state gives tables %q and %q the same lake name %q: correct the state", prev, s, k)
		}
		out[s], owner[k] = k, s
	}
	groups := map[string][]string{}
	for _, s := range sources {
		if _, done := out[s]; !done {
			n := NormalizeName(s)
			groups[n] = append(groups[n], s)
		}
	}
	// Plain names first, so that a suffixed name can be checked against all of them.
	var suffixed []string
	for _, n := range slices.Sorted(maps.Keys(groups)) {
		members := groups[n]
		_, taken := owner[n]
		for _, s := range members {
			if !taken && (len(members) == 1 || s == n) {
				out[s], owner[n] = n, s
			} else {
				suffixed = append(suffixed, s)
			}
		}
	}
	for _, s := range suffixed {
		n := NormalizeName(s)
		name := n + "_" + nameHash(s, 8)
		if _, taken := owner[name]; taken {
			name = n + "_" + nameHash(s, 16)
		}
		if prev, taken := owner[name]; taken {
			return nil, fmt.Errorf("tables %q and %q both map to lake name %q: set one of them a lake name in the state", prev, s, name)
		}
		out[s], owner[name] = name, s
	}
	return out, nil
}

// ColumnName is one column of a loaded table: its name in the source and in the lake
// (the Parquet files, the catalog, Athena).
type ColumnName struct {
	Source string `json:"source"`
	Lake   string `json:"lake"`
}

// ColumnCollisionError says two columns of a table normalize to one lake name.
// Unlike tables, columns get no hash suffix: a column's name is what analysts type,
// and a suffix that depends on which of two columns came first is not one they can
// guess. The table is refused until one column is renamed in the source.
type ColumnCollisionError struct {
	Table   string
	Columns [2]string // the source names, in table order
	Name    string    // the lake name both normalize to
}

func (e *ColumnCollisionError) Error() string {
	return fmt.Sprintf("table %q: columns %q and %q both normalize to the lake column %q, which Athena could not tell apart: rename one of them in the source, or leave the table out of the set",
		e.Table, e.Columns[0], e.Columns[1], e.Name)
}

// LakeColumns maps the columns of table (in table order) to their lake names with
// NormalizeName, the mapping of table names: "order date" -> "order_date", "x.y" ->
// "x_y", "naïve" -> "na_ve", "CamelCase" -> "camelcase", "2fa" -> "t_2fa". Glue keeps
// column names in lower case and Athena reads them so; any other character than
// a-z, 0-9 and _ needs quoting in every query, and some (a "." or ",") break the
// crawler's and Spark's handling of the files. Two columns with one lake name are a
// *ColumnCollisionError naming both.
func LakeColumns(table string, columns []string) ([]ColumnName, error) {
	out := make([]ColumnName, len(columns))
	first := make(map[string]string, len(columns)) // lake name -> source
	for i, c := range columns {
		n := NormalizeName(c)
		if prev, taken := first[n]; taken {
			return nil, &ColumnCollisionError{Table: table, Columns: [2]string{prev, c}, Name: n}
		}
		first[n] = c
		out[i] = ColumnName{Source: c, Lake: n}
	}
	return out, nil
}
