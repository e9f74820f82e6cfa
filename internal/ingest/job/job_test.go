package job

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/snaplake/snaplake/internal/ingest"
)

// jsonNames returns the json names of a struct's fields.
func jsonNames(v any) []string {
	var names []string
	t := reflect.TypeOf(v)
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			names = append(names, name)
		}
	}
	return names
}

// difference returns the names of a that b lacks, sorted and without repeats.
func difference(a, b []string) []string {
	var out []string
	for _, n := range a {
		if !slices.Contains(b, n) && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

var (
	keyRead      = regexp.MustCompile(`\b(plan|table|column)\["([^"]*)"\]|\b(key_range)\.get\("([^"]*)"\)`)
	otherRead    = regexp.MustCompile(`\b(plan|table|column)(\.get\(|\[\s*[^"\s])`)
	schemaBlock  = regexp.MustCompile(`(?ms)^(COLUMN_SCHEMA|RESULT_SCHEMA)\s*=\s*StructType\(\[(.*?)\]\)`)
	schemaFields = regexp.MustCompile(`StructField\("([^"]*)"`)
)

// checkScript compares the script with the Go contract and returns every
// difference: its arguments with ingest.JobArgumentNames, the plan keys it reads
// with the json names of ingest.JobPlan and ingest.JobTable, and the fields of the
// results it writes with those of ingest.TableResult and ingest.ResultColumn.
func checkScript(script []byte) []string {
	var problems []string
	args, err := Arguments(script)
	if err != nil {
		problems = append(problems, err.Error())
	}
	want := ingest.JobArgumentNames()
	if d := difference(want, args); len(d) > 0 {
		problems = append(problems, fmt.Sprintf("ARGUMENTS lacks %q", d))
	}
	if d := difference(args, want); len(d) > 0 {
		problems = append(problems, fmt.Sprintf("ARGUMENTS has %q, which ingest.JobArgumentNames does not", d))
	}
	if len(args) != len(difference(args, nil)) {
		problems = append(problems, fmt.Sprintf("ARGUMENTS %q repeats a name", args))
	}

	// The script names its variables after the plan's types: plan, table, column (an
	// ingest.ColumnName of table["columns"]) and key_range (an ingest.KeyRange of
	// table["ranges"], whose fields are optional: read with .get).
	tags := map[string][]string{"plan": jsonNames(ingest.JobPlan{}), "table": jsonNames(ingest.JobTable{}),
		"column": jsonNames(ingest.ColumnName{}), "key_range": jsonNames(ingest.KeyRange{})}
	reads := map[string][]string{}
	for _, m := range keyRead.FindAllSubmatch(script, -1) {
		v, k := string(m[1])+string(m[3]), string(m[2])+string(m[4])
		reads[v] = append(reads[v], k)
	}
	for _, v := range []string{"plan", "table", "column", "key_range"} {
		if len(reads[v]) == 0 {
			problems = append(problems, fmt.Sprintf("the script reads no %s[\"key\"]", v))
		}
		if d := difference(reads[v], tags[v]); len(d) > 0 {
			problems = append(problems, fmt.Sprintf("the script reads %s%q, which are not json names of the plan's %s (%q)", v, d, v, tags[v]))
		}
	}
	for _, m := range otherRead.FindAll(script, -1) {
		problems = append(problems, fmt.Sprintf("the script reads %s...: read the plan only as plan[\"key\"] and table[\"key\"], so that this test sees every key", m))
	}

	written := map[string][]string{}
	for _, m := range schemaBlock.FindAllSubmatch(script, -1) {
		for _, f := range schemaFields.FindAllSubmatch(m[2], -1) {
			written[string(m[1])] = append(written[string(m[1])], string(f[1]))
		}
	}
	for schema, v := range map[string]any{"RESULT_SCHEMA": ingest.TableResult{}, "COLUMN_SCHEMA": ingest.ResultColumn{}} {
		names := jsonNames(v)
		if d := difference(names, written[schema]); len(d) > 0 {
			problems = append(problems, fmt.Sprintf("%s lacks %q of %T", schema, d, v))
		}
		if d := difference(written[schema], names); len(d) > 0 {
			problems = append(problems, fmt.Sprintf("%s has %q, which %T has not", schema, d, v))
		}
	}
	return problems
}

func TestScriptMatchesContract(t *testing.T) {
	for _, p := range checkScript(Script) {
		t.Error(p)
	}
	args, err := Arguments(Script)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("ARGUMENTS %q", args)
}

// The comparison sees a renamed argument, plan key or result field.
func TestCheckScriptSeesRenames(t *testing.T) {
	for _, c := range []struct{ old, new, want string }{
		{`"secret_id"]`, `"secret"]`, `"secret_id"`},
		{`"run_id", `, ``, `"run_id"`},
		{`ARGUMENTS = [`, `ARGUMENTS = ["verbose", `, `"verbose"`},
		{`table["folder"]`, `table["destination"]`, `"destination"`},
		{`plan["bucket"]`, `plan.get("bucket")`, `plan.get(`},
		{`StructField("watermark"`, `StructField("mark"`, `"watermark"`},
		{`StructField("type"`, `StructField("hive_type"`, `"hive_type"`},
		{`column["lake"]`, `column["name"]`, `"name"`},
		{`key_range.get("to")`, `key_range.get("until")`, `"until"`},
		{`table["ranges"]`, `table["splits"]`, `"splits"`},
	} {
		if !bytes.Contains(Script, []byte(c.old)) {
			t.Errorf("the script has no %s to change", c.old)
			continue
		}
		changed := bytes.Replace(Script, []byte(c.old), []byte(c.new), 1)
		problems := checkScript(changed)
		if len(problems) == 0 || !strings.Contains(strings.Join(problems, "\n"), c.want) {
			t.Errorf("with %s changed to %s: problems %q, want one naming %s", c.old, c.new, problems, c.want)
		}
	}
}

func TestArguments(t *testing.T) {
	got, err := Arguments([]byte("import sys\n\nARGUMENTS = [\n    \"a\",\n    'b',\n]\n"))
	if err != nil || !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("got %q, %v; want [a b]", got, err)
	}
	for _, bad := range []string{"args = ['a']\n", "ARGUMENTS = []\n", "ARGUMENTS = [NAME]\n", "ARGUMENTS = ['a' + 'b']\n"} {
		if got, err := Arguments([]byte(bad)); err == nil {
			t.Errorf("Arguments(%q) = %q, want an error", bad, got)
		}
	}
}

func python(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("python3")
	if err != nil {
		t.Fatalf("python3 is needed to check the Glue job script and is not on PATH (`make deps` installs it): %v", err)
	}
	return path
}

func TestScriptCompiles(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, ScriptName)
	if err := os.WriteFile(src, Script, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(python(t), "-c", "import py_compile, sys; py_compile.compile(sys.argv[1], cfile=sys.argv[2], doraise=True)",
		src, filepath.Join(dir, "ingest_job.pyc")).CombinedOutput()
	if err != nil {
		t.Fatalf("py_compile %s: %v\n%s", ScriptName, err, out)
	}
}

// fakeSpark runs the script's main over stand-ins for pyspark and boto3: a source
// database described by a JSON file, and an object store in memory. It prints what
// the job did as JSON: its queries, the Parquet folders and results it wrote, and
// the exception that ended it. Its result rows are printed as Spark's JSON writer
// prints them (null fields left out).
const fakeSpark = `
import importlib.util, json, sys, types

script, plan_path, sources_path = sys.argv[1:4]
job_args = sys.argv[4:]
sources = json.load(open(sources_path))
log = {"conf": {}, "queries": [], "predicates": {}, "write_options": {}, "parquet": [], "results": {}, "error": None}
files = {}

class DataType:
    def __init__(self, *args):
        self.args = args
    def simpleString(self):
        return self.name
class Named(DataType):
    def __init__(self, name):
        self.name = name
class StringType(DataType): name = "string"
class LongType(DataType): name = "bigint"
class DoubleType(DataType): name = "double"
class ArrayType(DataType): name = "array"
class StructField:
    def __init__(self, name, dataType, nullable=True):
        self.name, self.dataType, self.nullable = name, dataType, nullable
class StructType(DataType):
    name = "struct"
    def __init__(self, fields):
        self.fields = fields

def to_json(value, data_type):
    if isinstance(data_type, StructType):
        names = [f.name for f in data_type.fields]
        if isinstance(value, dict):
            if sorted(value) != sorted(names):
                raise ValueError("row keys %s are not the schema's %s" % (sorted(value), names))
            value = tuple(value[n] for n in names)
        if len(value) != len(names):
            raise ValueError("row %r does not fit the schema's %s" % (value, names))
        return {f.name: to_json(v, f.dataType) for f, v in zip(data_type.fields, value) if v is not None}
    if isinstance(data_type, ArrayType):
        return [to_json(v, data_type.args[0]) for v in value]
    return value

def quoted(name):
    return "` + "`" + `" + name.replace("` + "`" + `", "` + "``" + `") + "` + "`" + `"

class Frame:
    def __init__(self, first=None, rows=0, fail=None, json_row=None):
        self._first, self.rows, self.fail, self.json_row = first, rows, fail, json_row
        self.schema = StructType([StructField("id", LongType()), StructField("amount", Named("decimal(12,2)"))])
    def first(self):
        return self._first
    def count(self):
        return self.rows
    def coalesce(self, n):
        return self
    @property
    def write(self):
        return Writer(self)

class Writer:
    def __init__(self, frame):
        self.frame, self.how, self.options = frame, None, {}
    def option(self, key, value):
        self.options[key] = value
        return self
    def mode(self, how):
        self.how = how
        return self
    def parquet(self, path):
        if self.how != "errorifexists":
            raise ValueError("Parquet written in mode %r" % self.how)
        if path in files:
            raise RuntimeError("path %s already exists" % path)
        if self.frame.fail:
            raise RuntimeError(self.frame.fail)
        files[path] = self.frame.rows
        log["parquet"].append(path)
        log["write_options"][path] = self.options
    def json(self, path):
        if self.how != "overwrite":
            raise ValueError("result written in mode %r" % self.how)
        log["results"][path] = self.frame.json_row

class Reader:
    def text(self, uri, wholetext=False):
        log["plan"] = uri
        return Frame(first=[open(plan_path).read()] if wholetext else None)
    def parquet(self, path):
        return Frame(rows=files[path])
    def jdbc(self, url, table, properties=None, predicates=None):
        log["queries"].append(table)
        if predicates is not None:
            log["predicates"][table] = predicates
        log["jdbc"] = {"url": url, "properties": properties}
        for name, source in sources.items():
            if quoted(name) in table:
                if "MAX(" in table:
                    return Frame(first={"m": source.get("max")})
                return Frame(rows=source.get("rows", 0), fail=source.get("fail"))
        raise RuntimeError("no such table in " + table)

class Spark:
    read = Reader()
    def createDataFrame(self, rows, schema):
        if len(rows) != 1:
            raise ValueError("a result is one row, not %d" % len(rows))
        return Frame(json_row=to_json(rows[0], schema))

class Builder:
    def appName(self, name):
        log["app"] = name
        return self
    def config(self, key, value):
        log["conf"][key] = value
        return self
    def getOrCreate(self):
        return Spark()

class Secrets:
    def get_secret_value(self, SecretId):
        log["secret"] = SecretId
        return {"SecretString": json.dumps({"username": "loader", "password": "pa'ss"})}

def client(service, region_name=None):
    log["region"] = region_name
    return Secrets()

class SparkSession:
    builder = Builder()

for name, attrs in {
    "boto3": {"client": client},
    "pyspark": {},
    "pyspark.sql": {"SparkSession": SparkSession},
    "pyspark.sql.types": {n: globals()[n] for n in ["ArrayType", "DoubleType", "LongType", "StringType", "StructField", "StructType"]},
}.items():
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    sys.modules[name] = module

spec = importlib.util.spec_from_file_location("ingest_job", script)
job = importlib.util.module_from_spec(spec)
spec.loader.exec_module(job)
try:
    job.main([script] + job_args)
except Exception as err:
    log["error"] = "%s: %s" % (type(err).__name__, err)
print(json.dumps(log))
`

type fakeRun struct {
	Conf         map[string]string          `json:"conf"`
	App          string                     `json:"app"`
	Plan         string                     `json:"plan"`
	Secret       string                     `json:"secret"`
	Region       *string                    `json:"region"`
	Queries      []string                   `json:"queries"`
	Predicates   map[string][]string        `json:"predicates"`
	WriteOptions map[string]map[string]any  `json:"write_options"`
	Parquet      []string                   `json:"parquet"`
	Results      map[string]json.RawMessage `json:"results"`
	Error        *string                    `json:"error"`
	JDBC         struct {
		URL        string            `json:"url"`
		Properties map[string]string `json:"properties"`
	} `json:"jdbc"`
}

func runFake(t *testing.T, runID string, plan ingest.JobPlan, sources map[string]map[string]any, env ...string) fakeRun {
	t.Helper()
	py := python(t)
	dir := t.TempDir()
	files := map[string]any{ScriptName: nil, "fake_spark.py": nil, "plan.json": plan, "sources.json": sources}
	for name, v := range files {
		data := Script
		switch {
		case name == "fake_spark.py":
			data = []byte(fakeSpark)
		case v != nil:
			var err error
			if data, err = json.Marshal(v); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(py, filepath.Join(dir, "fake_spark.py"), filepath.Join(dir, ScriptName),
		filepath.Join(dir, "plan.json"), filepath.Join(dir, "sources.json"),
		ingest.ArgRunID, runID, ingest.ArgPlan, "s3://"+plan.Bucket+"/"+ingest.PlanKey(plan.Run),
		ingest.ArgJDBCURL, "jdbc:mysql://db.internal:3306/shop-db",
		ingest.ArgSecretID, "arn:aws:secretsmanager:eu-west-1:123456789012:secret:snaplake-source-AbCdEf")
	cmd.Env = append(append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1"), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("the script over a fake Spark: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	t.Logf("the job's log:\n%s", stderr.String())
	var run fakeRun
	if err := json.Unmarshal(stdout.Bytes(), &run); err != nil {
		t.Fatalf("the fake's output: %v\n%s", err, stdout.String())
	}
	return run
}

func ptr(s string) *string { return &s }

// The script's table loop, over a fake Spark: the queries it sends, the folders it
// writes, the results it leaves (decoded strictly as ingest.TableResult), and a
// failing table that fails the run without stopping the others.
func TestScriptLoadsThePlan(t *testing.T) {
	const run = "20261203T174500Z-frequent"
	planned := []ingest.PlannedTable{
		{Source: "orders", Mode: ingest.ModeIncremental, Column: "created_at", From: ptr("2024-01-01 10:00:00")},
		{Source: "new`table", Mode: ingest.ModeIncremental, Column: "select"},
		{Source: "empty", Mode: ingest.ModeIncremental, Column: "id"},
		{Source: "unchanged", Mode: ingest.ModeIncremental, Column: "id", From: ptr("7")},
		{Source: "odd", Mode: ingest.ModeIncremental, Column: "code", From: ptr(`x'y\z`)},
		{Source: "broken", Mode: ingest.ModeFull},
		{Source: "customers", Mode: ingest.ModeFull},
	}
	for i := range planned {
		planned[i].Lake = strings.ReplaceAll(planned[i].Source, "`", "_")
		planned[i].Destination = ingest.RawPrefix + "shop_db/" + planned[i].Lake + "/"
		planned[i].Columns = []ingest.ColumnName{{Source: "id", Lake: "id"}, {Source: "amount", Lake: "amount"}}
	}
	// customers is split into three key ranges, its key named differently in the lake.
	customers := &planned[len(planned)-1]
	customers.Columns = []ingest.ColumnName{{Source: "Cust ID", Lake: "cust_id"}, {Source: "amount", Lake: "amount"}}
	customers.RangeColumn = "Cust ID"
	customers.Ranges = []ingest.KeyRange{{To: ptr("1000"), Nulls: true}, {From: ptr("1000"), To: ptr("2000")}, {From: ptr("2000")}}
	// The plan's column names are the lake's: the job selects each under its lake name.
	planned[0].Columns = []ingest.ColumnName{{Source: "id", Lake: "id"}, {Source: "order date", Lake: "order_date"}, {Source: "x.y`z", Lake: "x_y_z"}}
	plan := ingest.Plan{Set: "frequent", Source: ingest.Source{Database: "shop-db"}, LakeDatabase: "shop_db", Tables: planned}.Job(run, "lake")
	sources := map[string]map[string]any{
		"orders":    {"max": "2024-01-02 08:30:00.5", "rows": 5},
		"new`table": {"max": "1234567890123456789", "rows": 2},
		"empty":     {"max": nil},
		"unchanged": {"max": "7"},
		"odd":       {"max": `x'y\zz`, "rows": 1},
		"broken":    {"rows": 4, "fail": "Access denied for user 'loader'"},
		"customers": {"rows": 3},
	}
	got := runFake(t, run, plan, sources)

	wantQueries := []string{
		"(SELECT CAST(MAX(`created_at`) AS CHAR) AS m FROM `shop-db`.`orders`) AS q",
		"(SELECT `id` AS `id`, `order date` AS `order_date`, `x.y``z` AS `x_y_z` FROM `shop-db`.`orders` WHERE `created_at` > '2024-01-01 10:00:00' AND `created_at` <= '2024-01-02 08:30:00.5') AS q",
		"(SELECT CAST(MAX(`select`) AS CHAR) AS m FROM `shop-db`.`new``table`) AS q",
		"(SELECT `id` AS `id`, `amount` AS `amount` FROM `shop-db`.`new``table` WHERE `select` <= 1234567890123456789) AS q",
		"(SELECT CAST(MAX(`id`) AS CHAR) AS m FROM `shop-db`.`empty`) AS q",
		"(SELECT CAST(MAX(`id`) AS CHAR) AS m FROM `shop-db`.`unchanged`) AS q",
		"(SELECT CAST(MAX(`code`) AS CHAR) AS m FROM `shop-db`.`odd`) AS q",
		`(SELECT ` + "`id` AS `id`, `amount` AS `amount`" + ` FROM ` + "`shop-db`.`odd`" + ` WHERE ` + "`code`" + ` > 'x''y\\z' AND ` + "`code`" + ` <= 'x''y\\zz') AS q`,
		"(SELECT `id` AS `id`, `amount` AS `amount` FROM `shop-db`.`broken`) AS q",
		"(SELECT `Cust ID` AS `cust_id`, `amount` AS `amount` FROM `shop-db`.`customers`) AS q",
	}
	if !slices.Equal(got.Queries, wantQueries) {
		t.Errorf("queries:\n%s\nwant:\n%s", strings.Join(got.Queries, "\n"), strings.Join(wantQueries, "\n"))
	}

	var wantParquet []string
	for _, tb := range plan.Tables {
		if tb.Source != "empty" && tb.Source != "unchanged" && tb.Source != "broken" {
			wantParquet = append(wantParquet, "s3://lake/"+tb.Folder)
		}
	}
	if !slices.Equal(got.Parquet, wantParquet) {
		t.Errorf("Parquet folders %q, want %q", got.Parquet, wantParquet)
	}
	if !strings.HasSuffix(wantParquet[0], "/load="+run+"/") || !strings.HasSuffix(wantParquet[len(wantParquet)-1], "/gen="+run+"/") {
		t.Errorf("folders %q: want load=<run>/ for an incremental load and gen=<run>/ for a full reload", wantParquet)
	}

	columns := []ingest.ResultColumn{{Name: "id", Type: "bigint"}, {Name: "amount", Type: "decimal(12,2)"}}
	want := map[string]ingest.TableResult{
		"orders":    {Rows: 5, Watermark: ptr("2024-01-02 08:30:00.5"), Columns: columns},
		"new`table": {Rows: 2, Watermark: ptr("1234567890123456789"), Columns: columns},
		"empty":     {Rows: 0, Columns: []ingest.ResultColumn{}},
		"unchanged": {Rows: 0, Watermark: ptr("7"), Columns: []ingest.ResultColumn{}},
		"odd":       {Rows: 1, Watermark: ptr(`x'y\zz`), Columns: columns},
		"customers": {Rows: 3, Columns: columns},
	}
	if len(got.Results) != len(want) {
		t.Errorf("%d results, want %d (none for the failed table): %q", len(got.Results), len(want), slices.Sorted(maps.Keys(got.Results)))
	}
	for _, tb := range plan.Tables {
		raw, ok := got.Results["s3://lake/"+tb.Result]
		w, loaded := want[tb.Source]
		if ok != loaded {
			t.Errorf("%s: result written %v, want %v", tb.Source, ok, loaded)
			continue
		}
		if !ok {
			continue
		}
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(raw, &fields); err != nil {
			t.Fatal(err)
		}
		for _, name := range jsonNames(ingest.TableResult{}) {
			if _, present := fields[name]; !present && (name != "watermark" || w.Watermark != nil) {
				t.Errorf("%s: result %s has no %q", tb.Source, raw, name)
			}
		}
		var r ingest.TableResult
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			t.Errorf("%s: result %s: %v", tb.Source, raw, err)
			continue
		}
		if r.Seconds < 0 {
			t.Errorf("%s: seconds %v", tb.Source, r.Seconds)
		}
		w.Source, w.Lake, w.Seconds = tb.Source, tb.Lake, r.Seconds
		if !reflect.DeepEqual(r, w) {
			t.Errorf("%s: result %s\nwant %+v", tb.Source, raw, w)
		}
	}

	if got.Error == nil || !strings.Contains(*got.Error, "1 of 7 tables failed: broken") {
		t.Errorf("the run ended with %v, want an exception naming the failed table broken", got.Error)
	}
	// The split table is read with one predicate per range, the text of
	// ingest.KeyRange.Where on the key's lake name; the others in one query.
	var wantPredicates []string
	for _, r := range customers.Ranges {
		wantPredicates = append(wantPredicates, r.Where("`cust_id`"))
	}
	customersQuery := "(SELECT `Cust ID` AS `cust_id`, `amount` AS `amount` FROM `shop-db`.`customers`) AS q"
	if p := got.Predicates[customersQuery]; !slices.Equal(p, wantPredicates) || len(got.Predicates) != 1 {
		t.Errorf("predicates %q, want %q for customers only", got.Predicates, wantPredicates)
	}
	for _, folder := range got.Parquet {
		if n, ok := got.WriteOptions[folder]["maxRecordsPerFile"].(float64); !ok || int64(n) != ingest.RowsPerFile {
			t.Errorf("%s written with options %v, want maxRecordsPerFile %d", folder, got.WriteOptions[folder], ingest.RowsPerFile)
		}
	}
	if got.Conf["spark.sql.session.timeZone"] != "UTC" {
		t.Errorf("Spark conf %v: want spark.sql.session.timeZone UTC", got.Conf)
	}
	if got.Plan != "s3://lake/"+ingest.PlanKey(run) {
		t.Errorf("plan read from %s", got.Plan)
	}
	if got.Secret != "arn:aws:secretsmanager:eu-west-1:123456789012:secret:snaplake-source-AbCdEf" || got.Region == nil || *got.Region != "eu-west-1" {
		t.Errorf("secret %s read in region %v", got.Secret, got.Region)
	}
	p := got.JDBC.Properties
	if got.JDBC.URL != "jdbc:mysql://db.internal:3306/shop-db" || p["user"] != "loader" || p["password"] != "pa'ss" ||
		p["driver"] != "com.mysql.cj.jdbc.Driver" || p["serverTimezone"] != "UTC" || !strings.Contains(p["sessionVariables"], "time_zone='+00:00'") ||
		p["zeroDateTimeBehavior"] != "CONVERT_TO_NULL" {
		t.Errorf("JDBC %s with %v", got.JDBC.URL, p)
	}
}

// With SNAPLAKE_S3A=1 (a local Spark) the job reads and writes s3a://; a plan of
// another run is refused before any table is loaded.
func TestScriptLocalS3AAndRunCheck(t *testing.T) {
	const run = "20261203T020000Z-daily"
	plan := ingest.Plan{Set: "daily", Source: ingest.Source{Database: "shop"}, LakeDatabase: "shop",
		Tables: []ingest.PlannedTable{{Source: "customers", Lake: "customers", Mode: ingest.ModeFull, Destination: "raw/shop/customers/",
			Columns: []ingest.ColumnName{{Source: "id", Lake: "id"}}}}}.Job(run, "lake")
	got := runFake(t, run, plan, map[string]map[string]any{"customers": {"rows": 3}}, "SNAPLAKE_S3A=1")
	if got.Error != nil || got.Plan != "s3a://lake/"+ingest.PlanKey(run) ||
		!slices.Equal(got.Parquet, []string{"s3a://lake/raw/shop/customers/gen=" + run + "/"}) ||
		len(got.Results) != 1 || got.Results["s3a://lake/"+ingest.ResultPrefix(run, "customers")] == nil {
		t.Errorf("with SNAPLAKE_S3A=1: error %v, plan %s, Parquet %q, results %q", got.Error, got.Plan, got.Parquet, slices.Sorted(maps.Keys(got.Results)))
	}

	other := "20261203T021500Z-daily"
	got = runFake(t, other, plan, map[string]map[string]any{"customers": {"rows": 3}})
	if got.Error == nil || !strings.Contains(*got.Error, "is of run "+run+", not "+other) || len(got.Queries) > 0 {
		t.Errorf("the plan of run %s run as %s: error %v, queries %q", run, other, got.Error, got.Queries)
	}
}

// The script puts range bounds into SQL as they are: one that is not a decimal
// integer fails the table before any query, as ingest.KeyRange.Check does in Go.
func TestScriptRefusesBadRangeBounds(t *testing.T) {
	const run = "20261203T020000Z-daily"
	bad := "1 OR 1=1"
	if (ingest.KeyRange{From: &bad}).Check() == nil {
		t.Errorf("KeyRange.Check accepts %q", bad)
	}
	plan := ingest.Plan{Set: "daily", Source: ingest.Source{Database: "shop"}, LakeDatabase: "shop",
		Tables: []ingest.PlannedTable{{Source: "customers", Lake: "customers", Mode: ingest.ModeFull, Destination: "raw/shop/customers/",
			Columns: []ingest.ColumnName{{Source: "id", Lake: "id"}}, RangeColumn: "id",
			Ranges: []ingest.KeyRange{{To: &bad}, {From: &bad}}}}}.Job(run, "lake")
	got := runFake(t, run, plan, map[string]map[string]any{"customers": {"rows": 3}})
	if got.Error == nil || !strings.Contains(*got.Error, "1 of 1 tables failed: customers") || len(got.Queries) != 0 {
		t.Errorf("bad bounds: error %v, queries %q", got.Error, got.Queries)
	}
}
