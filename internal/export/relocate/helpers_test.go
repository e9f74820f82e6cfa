package relocate_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/snaplake/snaplake/internal/export/relocate"
	"github.com/snaplake/snaplake/internal/local/contract"
	"github.com/snaplake/snaplake/internal/local/s3server"
	"github.com/snaplake/snaplake/internal/local/testenv"
)

// bucket is the offline deployment's lake bucket, so that a test can also run the
// mover as the relocate function's role (its policy names this bucket).
var bucket = contract.MustLoad().Bucket

func startFake(t *testing.T) *s3server.Server {
	t.Helper()
	s, err := s3server.StartFake()
	if err != nil {
		t.Fatalf("start gofakes3: %v", err)
	}
	t.Cleanup(s.Stop)
	if err := s.CreateBucket(context.Background(), bucket); err != nil {
		t.Fatal(err)
	}
	return s
}

func startVersity(t *testing.T) *s3server.Server {
	t.Helper()
	testenv.NeedsServers(t)
	s, err := s3server.StartVersityGW(context.Background(), t.TempDir(), nil)
	if err != nil {
		t.Fatalf("start versitygw: %v", err)
	}
	t.Cleanup(s.Stop)
	if err := s.CreateBucket(context.Background(), bucket); err != nil {
		t.Fatal(err)
	}
	return s
}

// tableSpec describes one table of a generated export.
type tableSpec struct {
	db, table string
	files     int
	batches   int    // 0: older convention, files directly under the base prefix
	nameExtra string // inserted in file names, to put '=', ' ' and '+' in keys
	// status and warning go to the table's perTableStatus entry; "" is COMPLETE.
	status, warning string
}

var standardTables = []tableSpec{
	{db: "shop", table: "customer", files: 1200, batches: 3},
	{db: "shop", table: "customer_address", files: 800},
	{db: "shop", table: "orders", files: 400, batches: 1},
	{db: "crm", table: "contacts", files: 150, batches: 2},
	{db: "crm", table: "notes", files: 20, batches: 1, nameExtra: "a=b c+d"},
}

// export is a generated RDS export: keys relative to the export root -> content.
type export struct {
	id         string
	objects    map[string][]byte
	tableFiles []string // rel keys of table files
	kept       []string // rel keys that must stay in the export folder
}

func makeExport(id string, tables []tableSpec) export {
	e := export{id: id, objects: map[string][]byte{}}
	add := func(rel string, table bool) {
		h := fnv.New32a()
		h.Write([]byte(id + rel))
		body := fmt.Appendf(nil, "PAR1|%s|%s|", id, rel)
		body = append(body, bytes.Repeat([]byte{'x'}, int(h.Sum32()%97))...)
		e.objects[rel] = body
		if table {
			e.tableFiles = append(e.tableFiles, rel)
		} else {
			e.kept = append(e.kept, rel)
		}
	}
	for _, ts := range tables {
		base := ts.db + "/" + ts.db + "." + ts.table + "/"
		for i := range ts.files {
			h := fnv.New64a()
			fmt.Fprintf(h, "%s/%s/%d", id, base, i)
			uuid := fmt.Sprintf("%016x", h.Sum64())
			name := fmt.Sprintf("part-%05d-%s%s-c000.gz.parquet", i, ts.nameExtra, uuid)
			if ts.batches == 0 {
				add(base+fmt.Sprintf("part-%05d-%s.gz.parquet", i, uuid), true)
				continue
			}
			add(base+fmt.Sprintf("%d/", i%ts.batches+1)+name, true)
		}
		add(base+"_SUCCESS", false)
	}
	add("export_info_"+id+".json", false)
	// RDS splits the tables info into several files; the first holds one table.
	for _, part := range splitTables(tables) {
		e.objects[part.name(id)] = tablesInfo(part.tables)
		e.kept = append(e.kept, part.name(id))
	}
	add("_SUCCESS", false)
	add("shop/readme.txt", false)            // not under a base prefix
	add("other/shop.stray/x.parquet", false) // second folder is not <db>.<table>
	return e
}

type tablesInfoPart struct {
	from, to int
	tables   []tableSpec
}

func (p tablesInfoPart) name(id string) string {
	return fmt.Sprintf("export_tables_info_%s_from_%d_to_%d.json", id, p.from, p.to)
}

func splitTables(tables []tableSpec) []tablesInfoPart {
	if len(tables) < 2 {
		return []tablesInfoPart{{1, max(len(tables), 1), tables}}
	}
	return []tablesInfoPart{{1, 1, tables[:1]}, {2, len(tables), tables[1:]}}
}

// tablesInfo is an export_tables_info file as RDS writes it, with the fields Run
// does not read, so that a test fails if it chokes on them.
func tablesInfo(tables []tableSpec) []byte {
	type entry struct {
		Target          string         `json:"target"`
		Status          string         `json:"status"`
		WarningMessage  string         `json:"warningMessage,omitempty"`
		SizeGB          float64        `json:"sizeGB"`
		TableStatistics map[string]any `json:"tableStatistics"`
		SchemaMetadata  map[string]any `json:"schemaMetadata"`
	}
	entries := []entry{}
	for _, ts := range tables {
		status := ts.status
		if status == "" {
			status = "COMPLETE"
		}
		entries = append(entries, entry{
			Target: ts.db + "." + ts.table, Status: status, WarningMessage: ts.warning,
			TableStatistics: map[string]any{"extractedRows": ts.files * 10, "partitioningInfo": map[string]any{"numberOfPartitions": ts.files}},
			SchemaMetadata: map[string]any{"originalTypeMappings": []map[string]any{
				{"columnName": "id", "originalType": "bigint", "expectedExportedType": "int64"}}},
		})
	}
	b, err := json.MarshalIndent(map[string]any{"perTableStatus": entries}, "", "  ")
	if err != nil {
		panic(err)
	}
	return b
}

// flatName is the destination file name of rest (the path below a table's base
// prefix), written out independently of relocate's own implementation.
func flatName(rest string) string {
	name := strings.NewReplacer("(", "(28)", "_", "(5F)", "/", "_").Replace(rest)
	switch {
	case strings.HasPrefix(rest, "/"):
		name = "(2F)" + name[1:]
	case strings.HasPrefix(rest, "."):
		name = "(2E)" + name[1:]
	}
	return name
}

func (e export) dest(rel, destPrefix, date string) string {
	db, after, _ := strings.Cut(rel, "/")
	dbTable, rest, _ := strings.Cut(after, "/")
	table := strings.TrimPrefix(dbTable, db+".")
	return destPrefix + db + "/" + table + "/snapshot_date=" + date + "/" + flatName(rest)
}

// expectedDest is the destination key -> content after relocating e.
func (e export) expectedDest(date string) map[string][]byte {
	m := make(map[string][]byte, len(e.tableFiles))
	for _, rel := range e.tableFiles {
		m[e.dest(rel, "data/", date)] = e.objects[rel]
	}
	return m
}

// seed writes e under exports/<id>/ through the server's storage (fake) or S3 API.
func seed(t *testing.T, s *s3server.Server, e export) {
	t.Helper()
	if s.Backend != nil {
		for rel, body := range e.objects {
			if _, err := s.Backend.PutObject(bucket, "exports/"+e.id+"/"+rel, map[string]string{}, bytes.NewReader(body), int64(len(body)), nil); err != nil {
				t.Fatalf("seed %s: %v", rel, err)
			}
		}
		return
	}
	c := s.Client()
	var wg sync.WaitGroup
	var failed atomic.Value
	sem := make(chan struct{}, 16)
	for rel, body := range e.objects {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if _, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket),
				Key: aws.String("exports/" + e.id + "/" + rel), Body: bytes.NewReader(body)}); err != nil {
				failed.Store(err)
			}
		}()
	}
	wg.Wait()
	if err := failed.Load(); err != nil {
		t.Fatalf("seed export %s: %v", e.id, err)
	}
}

// sizes lists prefix on the server: key -> size.
func sizes(t *testing.T, c *s3.Client, prefix string) map[string]int64 {
	t.Helper()
	m := map[string]int64{}
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("list %s: %v", prefix, err)
		}
		for _, o := range page.Contents {
			m[aws.ToString(o.Key)] = aws.ToInt64(o.Size)
		}
	}
	return m
}

// contents reads every key under prefix.
func contents(t *testing.T, c *s3.Client, prefix string) map[string][]byte {
	t.Helper()
	keys := slices.Collect(maps.Keys(sizes(t, c, prefix)))
	out := make(map[string][]byte, len(keys))
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for _, k := range keys {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			o, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(k)})
			if err != nil {
				t.Errorf("get %s: %v", k, err)
				return
			}
			b, err := io.ReadAll(o.Body)
			o.Body.Close()
			if err != nil {
				t.Errorf("read %s: %v", k, err)
				return
			}
			mu.Lock()
			out[k] = b
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

// assertRelocated checks the destination holds exactly want (key and content) under
// prefix, with no folder between a snapshot_date partition and its files, and that the
// export folder holds only the files that must stay.
func assertRelocated(t *testing.T, c *s3.Client, e export, destPrefix string, want map[string][]byte) {
	t.Helper()
	got := contents(t, c, destPrefix)
	assertFlat(t, slices.Collect(maps.Keys(got)))
	for k, body := range want {
		g, ok := got[k]
		switch {
		case !ok:
			t.Errorf("destination lacks %s", k)
		case !bytes.Equal(g, body):
			t.Errorf("destination %s = %q, want %q", k, g, body)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("destination has unexpected %s", k)
		}
	}
	left := sizes(t, c, "exports/"+e.id+"/")
	for _, rel := range e.kept {
		if _, ok := left["exports/"+e.id+"/"+rel]; !ok {
			t.Errorf("export folder lost %s, which must stay", rel)
		}
	}
	for _, rel := range e.tableFiles {
		if _, ok := left["exports/"+e.id+"/"+rel]; ok {
			t.Errorf("source %s still in the export folder", rel)
		}
	}
	if extra := len(left) - len(e.kept) - 1; extra != 0 { // 1: the manifest
		t.Errorf("export folder holds %d objects, want %d kept + manifest: %v", len(left), len(e.kept), slices.Sorted(maps.Keys(left)))
	}
}

// assertFlat fails for a key with a folder level between snapshot_date=… and the file:
// a Glue crawler would make a partition column of it.
func assertFlat(t *testing.T, keys []string) {
	t.Helper()
	for _, k := range keys {
		_, after, ok := strings.Cut(k, "/snapshot_date=")
		if !ok {
			continue
		}
		_, file, _ := strings.Cut(after, "/")
		if file == "" || strings.Contains(file, "/") || strings.HasPrefix(file, "_") || strings.HasPrefix(file, ".") {
			t.Errorf("destination %s: want a visible file directly in its snapshot_date partition", k)
		}
	}
}

func opts(id, date string) relocate.Options {
	return relocate.Options{Bucket: bucket, ExportID: id, SnapshotDate: date}
}
