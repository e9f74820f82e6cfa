package mysqlparquet

import (
	"database/sql/driver"

	"github.com/parquet-go/parquet-go"
)

// A ValueConverter turns single values, as the driver returns them, into the Parquet
// values ExportTable writes for them, through the same conversion: a check that
// compares a table with its export (the archive's key checksums) converts the table's
// side with it. It reuses its buffers: a value is valid until the next call.
type ValueConverter struct {
	col     Column
	cd      colData
	scratch []byte
	vals    []parquet.Value
}

// Converter returns a ValueConverter for values of the column.
func (c Column) Converter() *ValueConverter {
	return &ValueConverter{col: c, scratch: make([]byte, c.flbaSize)}
}

// Convert returns the Parquet value of v: the null value for NULL and for zero dates.
func (vc *ValueConverter) Convert(v driver.Value) (parquet.Value, error) {
	cd := &vc.cd
	cd.nums, cd.data, cd.ends, cd.null = cd.nums[:0], cd.data[:0], cd.ends[:0], cd.null[:0]
	if _, err := cd.add(&vc.col, v); err != nil {
		return parquet.Value{}, err
	}
	maxDef := 0
	if vc.col.optional() {
		maxDef = 1
	}
	var err error
	if vc.col.numeric() {
		vc.vals = vc.col.appendNumbers(vc.vals[:0], cd, 0, 1, maxDef, 0, vc.scratch)
	} else {
		vc.vals, err = vc.col.appendText(vc.vals[:0], cd, 0, 1, maxDef, 0, vc.scratch)
	}
	if err != nil {
		return parquet.Value{}, err
	}
	return vc.vals[0], nil
}
