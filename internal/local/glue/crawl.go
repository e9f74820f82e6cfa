package glue

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	gluetypes "github.com/aws/aws-sdk-go-v2/service/glue/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// logGroup is where AWS writes crawler logs, one stream per crawler.
const logGroup = "/aws-glue/crawlers"

// defaultPartition is Hive's value for a partition level a file does not have.
const defaultPartition = "__HIVE_DEFAULT_PARTITION__"

// crawlStats are the counts the Succeeded event reports.
type crawlStats struct {
	tablesCreated, tablesUpdated, tablesDeleted             int
	partitionsCreated, partitionsUpdated, partitionsDeleted int
	warnings                                                []string
}

// target is one parsed S3 include path.
type target struct {
	bucket, prefix string // prefix ends with "/" unless it is the whole bucket ("")
	location       string // s3://bucket/prefix, the catalog table's Location
	leaf           string // the last folder, which names the table
}

// parseTarget reads an include path "s3://bucket/some/folder[/]".
func parseTarget(p string) (target, error) {
	rest, ok := strings.CutPrefix(p, "s3://")
	if !ok {
		return target{}, fmt.Errorf("S3 target path %q does not start with s3://", p)
	}
	bucket, prefix, _ := strings.Cut(rest, "/")
	if bucket == "" {
		return target{}, fmt.Errorf("S3 target path %q names no bucket", p)
	}
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/" // data/db/customer must not also crawl data/db/customer_address
	}
	if strings.Contains(prefix, "//") || strings.HasPrefix(prefix, "/") {
		return target{}, fmt.Errorf("S3 target path %q has an empty folder name", p)
	}
	leaf := bucket
	if prefix != "" {
		leaf = prefix[strings.LastIndex(prefix[:len(prefix)-1], "/")+1 : len(prefix)-1]
	}
	return target{bucket: bucket, prefix: prefix, location: "s3://" + bucket + "/" + prefix, leaf: leaf}, nil
}

// dataFile is one Parquet file below an include path.
type dataFile struct {
	key     string
	size    int64
	folders []string // folder names between the include path and the file
}

// crawledTable is what one include path holds now; files 0 means no data at all.
type crawledTable struct {
	target target
	table  Table // Name unset: chosen against the catalog
	files  int
}

func (s *Service) run(ctx context.Context, log *slog.Logger, cr Crawler) (crawlStats, error) {
	var stats crawlStats
	targets := make([]target, 0, len(cr.Targets))
	for _, p := range cr.Targets {
		t, err := parseTarget(p)
		if err != nil {
			return crawlStats{}, fmt.Errorf("crawler %s: %w", cr.Name, err)
		}
		targets = append(targets, t)
	}
	now := time.Now().UTC()
	crawled := make([]crawledTable, 0, len(targets))
	for _, t := range targets {
		files, err := s.list(ctx, log, t)
		if err != nil {
			return crawlStats{}, err
		}
		ct := crawledTable{target: t, files: len(files)}
		if len(files) > 0 {
			tb, warning, err := s.tableOf(ctx, cr.Database, t, files)
			if err != nil {
				return crawlStats{}, err
			}
			if warning != "" {
				log.WarnContext(ctx, "crawl warning", "location", t.location, "warning", warning)
				stats.warnings = append(stats.warnings, warning)
			}
			tb.UpdatedAt = now
			ct.table = tb
		}
		crawled = append(crawled, ct)
	}

	err := s.Catalog.update(func(st *catalogFile) error {
		st.ensureDatabase(cr.Database)
		taken := map[string]bool{} // names given in this crawl
		for _, ct := range crawled {
			prev, existed := st.tableAt(cr.Database, ct.target.location)
			if ct.files == 0 {
				if !existed {
					continue
				}
				if logsDeletes(cr) {
					log.InfoContext(ctx, "table kept: its include path has no files, and the delete behavior is LOG", "table", prev.Name)
					continue
				}
				stats.tablesDeleted++
				stats.partitionsDeleted += len(partitionIDs(prev))
				st.deleteTable(cr.Database, prev.Name)
				log.InfoContext(ctx, "table deleted: its include path has no files", "table", prev.Name, "location", ct.target.location)
				continue
			}
			t := ct.table
			t.Crawler = cr.Name
			if existed && logsDeletes(cr) && slices.Equal(prev.PartitionKeys, t.PartitionKeys) {
				// LOG keeps the partitions whose folders are gone: "do not delete it,
				// only log that it was found to no longer exist".
				keepGonePartitions(&t, prev)
			}
			if existed {
				t.Name = prev.Name // Glue never renames a table
			} else {
				t.Name = st.freeName(cr.Database, strings.ToLower(ct.target.leaf), ct.target.location, taken)
				if t.Name != strings.ToLower(ct.target.leaf) {
					w := fmt.Sprintf("table %s.%s exists with another location: %s became table %s",
						cr.Database, strings.ToLower(ct.target.leaf), ct.target.location, t.Name)
					log.WarnContext(ctx, "crawl warning", "warning", w)
					stats.warnings = append(stats.warnings, w)
				}
			}
			taken[t.Name] = true
			if !existed {
				stats.tablesCreated++
				stats.partitionsCreated += len(partitionIDs(t))
				st.putTable(t)
				continue
			}
			added, removed := diff(partitionIDs(prev), partitionIDs(t))
			stats.partitionsCreated += added
			stats.partitionsDeleted += removed
			if added == 0 && removed == 0 && slices.Equal(prev.Columns, t.Columns) && slices.Equal(prev.PartitionKeys, t.PartitionKeys) {
				t.UpdatedAt = prev.UpdatedAt
			} else {
				stats.tablesUpdated++
			}
			st.putTable(t)
		}
		stats.tablesDeleted += s.dropUntargeted(ctx, log, st, cr, crawled)
		return nil
	})
	if err != nil {
		return crawlStats{}, fmt.Errorf("record tables of crawler %s: %w", cr.Name, err)
	}
	return stats, nil
}

// DroppedTargetAssumption names how the stand-in treats a table whose include path
// was removed from its crawler's targets (UpdateCrawler) since the crawl that wrote
// it. AWS documents DeleteBehavior only for "a deleted object" and says nothing of a
// target that is no longer crawled, so the stand-in takes the reading that costs
// most: such a table, last written by this crawler, counts as deleted. It is
// deleted under DELETE_FROM_DATABASE (and DEPRECATE_IN_DATABASE, which the stand-in
// does not tell apart) and kept under LOG. A workflow that passes offline is thus
// right under either reading in AWS. Tables written through the API (CreateTable)
// or by another crawler are never touched, as in AWS a crawler only changes what
// its own crawls wrote. docs/aws-assumptions.md lists it under ingestion.
const DroppedTargetAssumption = "a table whose include path was dropped from its crawler's targets counts as deleted"

// logsDeletes says the crawler's DeleteBehavior is LOG: it deletes nothing.
func logsDeletes(cr Crawler) bool {
	return cr.SchemaChangePolicy != nil && cr.SchemaChangePolicy.DeleteBehavior == gluetypes.DeleteBehaviorLog
}

// dropUntargeted applies DroppedTargetAssumption to the tables cr last wrote whose
// locations are none of this crawl's include paths, and returns how many it deleted.
func (s *Service) dropUntargeted(ctx context.Context, log *slog.Logger, st *catalogFile, cr Crawler, crawled []crawledTable) int {
	var gone []Table
	for _, t := range st.Tables {
		if t.Database != cr.Database || t.Crawler != cr.Name ||
			slices.ContainsFunc(crawled, func(ct crawledTable) bool { return ct.target.location == t.Location }) {
			continue
		}
		gone = append(gone, t)
	}
	deleted := 0
	for _, t := range gone {
		if logsDeletes(cr) {
			log.InfoContext(ctx, "table kept: its include path is no longer a target, and the delete behavior is LOG",
				"table", t.Name, "location", t.Location, "assumption", DroppedTargetAssumption)
			continue
		}
		st.deleteTable(t.Database, t.Name)
		deleted++
		log.WarnContext(ctx, "table deleted: its include path is no longer a target of the crawler, whose delete behavior is not LOG",
			"table", t.Name, "location", t.Location, "assumption", DroppedTargetAssumption)
	}
	return deleted
}

// keepGonePartitions adds to t the partitions of prev that t no longer has.
func keepGonePartitions(t *Table, prev Table) {
	for _, p := range prev.Partitions {
		if !slices.Contains(t.Partitions, p) {
			t.Partitions = append(t.Partitions, p)
		}
	}
	slices.Sort(t.Partitions)
	if len(t.PartitionValues) > 0 {
		for _, v := range prev.PartitionValues {
			if !slices.ContainsFunc(t.PartitionValues, func(w []string) bool { return slices.Equal(v, w) }) {
				t.PartitionValues = append(t.PartitionValues, v)
			}
		}
		slices.SortFunc(t.PartitionValues, slices.Compare)
	}
}

// tableOf builds the catalog table of one include path from its data files: partition
// keys from the folder levels, the schema from the first file of the newest partition.
func (s *Service) tableOf(ctx context.Context, database string, t target, files []dataFile) (Table, string, error) {
	keys, values, warning := partitionsOf(files)
	type partition struct {
		values []string
		files  []dataFile
	}
	var parts []partition
	index := map[string]int{}
	for i, f := range files {
		id := strings.Join(values[i], "/")
		j, ok := index[id]
		if !ok {
			j = len(parts)
			index[id] = j
			parts = append(parts, partition{values: values[i]})
		}
		parts[j].files = append(parts[j].files, f)
	}
	slices.SortFunc(parts, func(a, b partition) int { return slices.Compare(a.values, b.values) })
	newest := parts[len(parts)-1].files
	slices.SortFunc(newest, func(a, b dataFile) int { return strings.Compare(a.key, b.key) })
	cols, err := readSchema(ctx, s.S3, t.bucket, newest[0].key, newest[0].size)
	if err != nil {
		return Table{}, "", fmt.Errorf("infer schema of table %s at %s: %w", database, t.location, err)
	}
	tb := Table{
		Database:      database,
		Location:      t.location,
		Columns:       cols,
		PartitionKeys: make([]Column, len(keys)),
		Partitions:    []string{},
	}
	for i, k := range keys {
		tb.PartitionKeys[i] = Column{Name: k, Type: "string"}
	}
	for _, p := range parts {
		if len(p.values) > 0 && !slices.Contains(tb.Partitions, p.values[0]) {
			tb.Partitions = append(tb.Partitions, p.values[0])
		}
		if len(keys) > 1 {
			tb.PartitionValues = append(tb.PartitionValues, p.values)
		}
	}
	return tb, warning, nil
}

// partitionsOf derives the partition keys of a table from the folders of its files
// and each file's partition values. Every folder level is a key: "k=v" folders give
// the key k (lower-cased, as Glue names columns) when every folder at that level says
// k, otherwise, or for plain folders, the key is partition_<level> and the value the
// folder name. Files at different depths get the deepest file's keys, the missing
// levels Hive's default partition, and a warning.
func partitionsOf(files []dataFile) (keys []string, values [][]string, warning string) {
	depth, shallow := 0, 0
	for _, f := range files {
		depth = max(depth, len(f.folders))
	}
	for _, f := range files {
		if len(f.folders) < depth {
			shallow++
		}
	}
	hive := make([]bool, depth)
	for d := range depth {
		name := ""
		hive[d] = true
		for _, f := range files {
			if d >= len(f.folders) {
				continue
			}
			k, _, ok := strings.Cut(f.folders[d], "=")
			k = strings.ToLower(k)
			if !ok || k == "" || (name != "" && k != name) {
				hive[d] = false
				break
			}
			name = k
		}
		if hive[d] && !slices.Contains(keys, name) {
			keys = append(keys, name)
		} else {
			hive[d] = false
			keys = append(keys, "partition_"+strconv.Itoa(d))
		}
	}
	values = make([][]string, len(files))
	for i, f := range files {
		v := make([]string, depth)
		for d := range depth {
			switch {
			case d >= len(f.folders):
				v[d] = defaultPartition
			case hive[d]:
				_, v[d], _ = strings.Cut(f.folders[d], "=")
			default:
				v[d] = f.folders[d]
			}
		}
		values[i] = v
	}
	if shallow > 0 {
		warning = fmt.Sprintf("%d of %d files sit above the deepest folder level (%d); their missing partition values are %s",
			shallow, len(files), depth, defaultPartition)
	}
	return keys, values, warning
}

// list reads every key under the include path and keeps the Parquet data files.
// Hidden paths (a file or folder name starting with '_' or '.', like _SUCCESS markers)
// are skipped, as Glue and Athena skip them; so are other files, which the stand-in
// cannot classify.
func (s *Service) list(ctx context.Context, log *slog.Logger, t target) ([]dataFile, error) {
	var files []dataFile
	ignored := 0
	in := &s3.ListObjectsV2Input{Bucket: aws.String(t.bucket), Prefix: aws.String(t.prefix)}
	for {
		out, err := s.S3.ListObjectsV2(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list s3://%s/%s: %w", t.bucket, t.prefix, err)
		}
		for _, o := range out.Contents {
			key := aws.ToString(o.Key)
			folders, why := classify(strings.TrimPrefix(key, t.prefix))
			if why != "" {
				log.DebugContext(ctx, "object ignored", "key", key, "reason", why)
				ignored++
				continue
			}
			files = append(files, dataFile{key: key, size: aws.ToInt64(o.Size), folders: folders})
		}
		if !aws.ToBool(out.IsTruncated) || out.NextContinuationToken == nil {
			break
		}
		in.ContinuationToken = out.NextContinuationToken
	}
	if ignored > 0 {
		log.InfoContext(ctx, "objects ignored: folder markers, hidden or not Parquet", "location", t.location, "count", ignored)
	}
	return files, nil
}

// classify returns the folders of a key relative to its include path, or why the key
// is not a data file.
func classify(rel string) (folders []string, why string) {
	if rel == "" || strings.HasSuffix(rel, "/") {
		return nil, "folder marker"
	}
	segs := strings.Split(rel, "/")
	for _, seg := range segs {
		switch {
		case seg == "":
			return nil, "empty folder name"
		case strings.HasPrefix(seg, "_"), strings.HasPrefix(seg, "."):
			return nil, "hidden (name starts with '_' or '.')"
		}
	}
	if !strings.HasSuffix(segs[len(segs)-1], ".parquet") {
		return nil, "not a .parquet file"
	}
	return segs[:len(segs)-1], ""
}

// partitionIDs names each partition of a table by its values joined with '/', which
// folder names cannot contain.
func partitionIDs(t Table) []string {
	if len(t.PartitionValues) > 0 {
		ids := make([]string, len(t.PartitionValues))
		for i, v := range t.PartitionValues {
			ids[i] = strings.Join(v, "/")
		}
		return ids
	}
	return t.Partitions
}

// tableAt finds the table of database whose location is loc: the table an include
// path made in an earlier crawl.
func (st *catalogFile) tableAt(database, loc string) (Table, bool) {
	for _, t := range st.Tables {
		if t.Database == database && t.Location == loc {
			return t, true
		}
	}
	return Table{}, false
}

// freeName is name unless a table of that name exists at another location or was
// given to another include path in this crawl. Glue then appends a hash to the name
// (the "table per export folder with a random suffix" complaint); so does the stand-in,
// derived from the location so reruns agree.
func (st *catalogFile) freeName(database, name, loc string, taken map[string]bool) string {
	used := func(n string) bool {
		return taken[n] || slices.ContainsFunc(st.Tables, func(t Table) bool { return t.Database == database && t.Name == n })
	}
	if !used(name) {
		return name
	}
	sum := sha256.Sum256([]byte(loc))
	return name + "_" + hex.EncodeToString(sum[:])[:8]
}

// diff counts the values of b missing from a (added) and of a missing from b (removed).
func diff(a, b []string) (added, removed int) {
	for _, v := range b {
		if !slices.Contains(a, v) {
			added++
		}
	}
	for _, v := range a {
		if !slices.Contains(b, v) {
			removed++
		}
	}
	return added, removed
}
