package current

import (
	"github.com/parquet-go/parquet-go"
)

// KeySet is every primary key the source has, read for a key check from Parquet
// files of the key columns written the way the load writes the table (so that a
// key has the same Parquet types, and the same encoding, in both).
type KeySet struct {
	keys  map[string]struct{}
	kinds []parquet.Kind
	file  string
}

// ReadKeys reads the key columns (lake names) of files into a set.
func ReadKeys(files []File, key []string) (*KeySet, error) {
	fs, err := openAll(files)
	if err != nil {
		return nil, err
	}
	ks := &KeySet{keys: map[string]struct{}{}}
	if len(fs) == 0 {
		return ks, nil // a source table without rows: every key is gone
	}
	schema := fs[0].f.Schema()
	cols, err := columns(schema, key, "key", fs[0].name)
	if err != nil {
		return nil, err
	}
	ks.file = fs[0].name
	for _, n := range key {
		c, _ := schema.Lookup(n)
		ks.kinds = append(ks.kinds, c.Node.Type().Kind())
	}
	var kb []byte
	err = eachRow(fs, schema, func(row parquet.Row) (bool, error) {
		kb = appendKey(kb[:0], row, cols)
		ks.keys[string(kb)] = struct{}{}
		return false, nil
	})
	return ks, err
}

// Has says whether the source has the key (as appendKey encodes it).
func (k *KeySet) Has(key []byte) bool {
	_, ok := k.keys[string(key)]
	return ok
}

// Len is the number of keys.
func (k *KeySet) Len() int { return len(k.keys) }

// compatible checks that the table's key columns have the Parquet types of the key
// files': keys of other types would never match, and the key check would drop
// every row.
func (k *KeySet) compatible(schema *parquet.Schema, key []string, file string) error {
	if k.kinds == nil {
		return nil // no key file: the source table is empty
	}
	for i, n := range key {
		c, ok := schema.Lookup(n)
		if !ok {
			return &ColumnError{Column: n, Role: "key", File: file, Problem: "not in the file"}
		}
		if got := c.Node.Type().Kind(); got != k.kinds[i] {
			return &ColumnError{Column: n, Role: "key", File: file,
				Problem: "is " + got.String() + " where the source's keys (" + k.file + ") are " + k.kinds[i].String() + ": the key check cannot compare them"}
		}
	}
	return nil
}
