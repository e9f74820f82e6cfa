package relocate

import (
	"strings"
	"testing"
)

func TestPartitionFileName(t *testing.T) {
	tests := []struct{ rest, want string }{
		{"1/part-00000-0b1c-c000.gz.parquet", "1_part-00000-0b1c-c000.gz.parquet"}, // RDS's current convention
		{"part-00000-0b1c.gz.parquet", "part-00000-0b1c.gz.parquet"},               // older: directly under the table
		{"1_part-00000.gz.parquet", "1(5F)part-00000.gz.parquet"},                  // must not meet 1/part-00000…
		{"2/3/part.gz.parquet", "2_3_part.gz.parquet"},
		{"2_3/part.gz.parquet", "2(5F)3_part.gz.parquet"},
		{"2/3_part.gz.parquet", "2_3(5F)part.gz.parquet"},
		{"(5F)/x.parquet", "(28)5F)_x.parquet"}, // an escape-looking folder is escaped itself
		{"_hidden.parquet", "(5F)hidden.parquet"},
		{".hidden.parquet", "(2E)hidden.parquet"},
		{"/x.parquet", "(2F)x.parquet"},
		{"a.b/.c", "a.b_.c"}, // only the first byte can hide a file
		{"a=b c+d/part.gz.parquet", "a=b c+d_part.gz.parquet"},
	}
	for _, tt := range tests {
		t.Run(tt.rest, func(t *testing.T) {
			got := partitionFileName(tt.rest)
			if got != tt.want {
				t.Fatalf("partitionFileName(%q) = %q, want %q", tt.rest, got, tt.want)
			}
			back, ok := parsePartitionFileName(got)
			if !ok || back != tt.rest {
				t.Fatalf("parsePartitionFileName(%q) = %q, %v; want %q", got, back, ok, tt.rest)
			}
		})
	}
}

func TestParsePartitionFileNameRejectsForeignNames(t *testing.T) {
	for _, name := range []string{
		"",
		"1/part-00000.gz.parquet", // the old nested layout
		"(41)bc.parquet",          // "Abc" is stored as itself
		"a(2F)b.parquet",          // a '/' past the first byte is stored as '_'
		"x(2E)y",                  // so is a '.'
		"(5f)x",                   // lower-case hex is not ours
		"(5F",
		"(zz)x",
		"(5F]x",
	} {
		if rest, ok := parsePartitionFileName(name); ok {
			t.Errorf("parsePartitionFileName(%q) = %q, true; want false", name, rest)
		}
	}
}

func TestTableFile(t *testing.T) {
	tests := []struct {
		rel             string
		db, table, rest string // "" db: not a table file
	}{
		{"shop/shop.customer/1/part-0.gz.parquet", "shop", "customer", "1/part-0.gz.parquet"},
		{"shop/shop.customer/part-0.gz.parquet", "shop", "customer", "part-0.gz.parquet"},
		{"shop/shop.customer/1/_SUCCESS", "", "", ""},
		{"shop/shop.customer/_SUCCESS", "", "", ""},
		{"shop/shop.customer/_temporary/0/part-0.gz.parquet", "", "", ""},
		{"shop/shop.customer/1/.part-0.gz.parquet.crc", "", "", ""},
		{"shop/shop.customer/", "", "", ""},
		{"shop/other.customer/1/part-0.gz.parquet", "", "", ""},
		{"export_tables_info_x_from_1_to_2.json", "", "", ""},
		{"shop/readme.txt", "", "", ""},
	}
	for _, tt := range tests {
		db, table, rest, ok := tableFile(tt.rel)
		if ok != (tt.db != "") || db != tt.db || table != tt.table || rest != tt.rest {
			t.Errorf("tableFile(%q) = %q %q %q %v, want %q %q %q", tt.rel, db, table, rest, ok, tt.db, tt.table, tt.rest)
		}
	}
}

// FuzzPartitionFileName checks the properties relocation relies on for any pair of
// paths: distinct paths get distinct names (injective), the name is one visible file
// name, and parsing it gives the path back.
func FuzzPartitionFileName(f *testing.F) {
	seeds := [][2]string{
		{"1/part-00000-a-c000.gz.parquet", "1_part-00000-a-c000.gz.parquet"},
		{"2/3/x.parquet", "2_3/x.parquet"},
		{"(5F)/x", "_/x"},
		{"/x", "(2F)x"},
		{".x", "(2E)x"},
		{"a//b", "a/_b"},
		{"\x00(\xff", "\x00_\xff"},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		if a == "" || b == "" {
			return // a table file always has a path below its base prefix
		}
		na, nb := partitionFileName(a), partitionFileName(b)
		if a != b && na == nb {
			t.Fatalf("%q and %q both map to %q", a, b, na)
		}
		for _, c := range []struct{ rest, name string }{{a, na}, {b, nb}} {
			if strings.Contains(c.name, "/") || c.name == "" {
				t.Fatalf("partitionFileName(%q) = %q: not one file name", c.rest, c.name)
			}
			if strings.HasPrefix(c.name, "_") || strings.HasPrefix(c.name, ".") {
				t.Fatalf("partitionFileName(%q) = %q: hidden from Athena", c.rest, c.name)
			}
			if strings.HasSuffix(c.rest, ".parquet") && c.rest != ".parquet" && !strings.HasSuffix(c.name, ".parquet") {
				t.Fatalf("partitionFileName(%q) = %q lost the .parquet extension", c.rest, c.name)
			}
			if back, ok := parsePartitionFileName(c.name); !ok || back != c.rest {
				t.Fatalf("parsePartitionFileName(%q) = %q, %v; want %q", c.name, back, ok, c.rest)
			}
		}
	})
}
