package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // validate snaplake:snapshotTimeZone the way the Lambda will load it

	"github.com/snaplake/snaplake/internal/deploy"
)

// Context keys read from cdk.json (or `cdk synth -c key=value`) that every
// capability shares; the export's keys are in export_config.go.
const (
	KeyNotificationEmail = "snaplake:notificationEmail"
	KeyLambdaAssetDir    = "snaplake:lambdaAssetDir"
	KeyLogRetentionDays  = "snaplake:logRetentionDays"
	KeyIngest            = "snaplake:ingest"   // an object: see IngestConfig (ingest_config.go)
	KeyFederate          = "snaplake:federate" // an object: see FederateConfig (federate_config.go)
)

// FunctionNames are the Lambda functions the stack can deploy (the ingestion's only
// with snaplake:ingest, the Federator's only with snaplake:federate, the archive's
// only with snaplake:archive); each one's code
// is the directory <lambdaAssetDir>/<name>/ holding the `bootstrap` binary.
var FunctionNames = slices.Concat(deploy.Functions, deploy.IngestFunctions, deploy.FederateFunctions, deploy.ArchiveFunctions)

// Config is the deployment's configuration, read from the CDK context.
type Config struct {
	DBInstanceIDs          []string // RDS instances whose snapshots are exported
	DBClusterIDs           []string // Aurora DB clusters whose automated cluster snapshots are exported
	Databases              []string // source MySQL databases exported and catalogued
	RetentionDays          int      // days of snapshot partitions kept under data/
	NotificationEmail      string   // optional subscriber of the failure topic
	ExportTimeoutHours     int
	ExportRecheckMinutes   int // how often a waiting export asks RDS for its status
	CrawlTimeoutMinutes    int
	SnapshotTimeZone       string // IANA zone of the snapshot_date partitions
	IncludeManualSnapshots bool
	GlueDatabasePrefix     string
	LambdaAssetDir         string
	LogRetentionDays       int
	Ingest                 *IngestConfig   // nil: the config-driven ingestion is not deployed
	Federate               *FederateConfig // nil: the Federator is not deployed
	Archive                *ArchiveConfig  // nil: retention archiving is not deployed
}

// ConfigError names the context key that is missing or wrong and, for an object
// value, its field.
type ConfigError struct {
	Key    string
	Field  string
	Reason string
}

func (e *ConfigError) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("context %s, field %s: %s", e.Key, e.Field, e.Reason)
	}
	return fmt.Sprintf("context %s: %s", e.Key, e.Reason)
}

// DefaultConfig holds the values used for keys the context does not set.
func DefaultConfig() Config {
	return Config{
		RetentionDays:        deploy.DefaultRetentionDays,
		ExportTimeoutHours:   int(deploy.DefaultExportTimeout / time.Hour),
		ExportRecheckMinutes: int(deploy.DefaultExportRecheck / time.Minute),
		CrawlTimeoutMinutes:  int(deploy.DefaultCrawlTimeout / time.Minute),
		SnapshotTimeZone:     deploy.DefaultSnapshotTimeZone,
		LambdaAssetDir:       filepath.Join("build", "lambda"),
		LogRetentionDays:     deploy.DefaultLogRetentionDays,
	}
}

// logRetention maps the retention periods CloudWatch Logs accepts, in days, to the
// names of CDK's awslogs.RetentionDays.
var logRetention = map[int]string{
	1: "ONE_DAY", 3: "THREE_DAYS", 5: "FIVE_DAYS", 7: "ONE_WEEK", 14: "TWO_WEEKS",
	30: "ONE_MONTH", 60: "TWO_MONTHS", 90: "THREE_MONTHS", 120: "FOUR_MONTHS",
	150: "FIVE_MONTHS", 180: "SIX_MONTHS", 365: "ONE_YEAR", 400: "THIRTEEN_MONTHS",
	545: "EIGHTEEN_MONTHS", 731: "TWO_YEARS", 1096: "THREE_YEARS", 1827: "FIVE_YEARS",
	2192: "SIX_YEARS", 2557: "SEVEN_YEARS", 2922: "EIGHT_YEARS", 3288: "NINE_YEARS",
	3653: "TEN_YEARS",
}

var (
	emailRE = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s]+$`)
)

// ParseConfig reads the configuration through lookup, which returns a context value
// or nil. Values from cdk.json arrive as JSON types, values from `-c key=value` as
// strings: both are accepted. Every problem found is reported, each naming its key.
func ParseConfig(lookup func(key string) any) (Config, error) {
	c := DefaultConfig()
	var errs []error
	fail := func(key, format string, args ...any) {
		errs = append(errs, &ConfigError{Key: key, Reason: fmt.Sprintf(format, args...)})
	}

	errs = append(errs, parseExport(lookup, &c)...)
	var err error
	if err := intSetting(lookup, KeyLogRetentionDays, &c.LogRetentionDays, 1, 3653); err != nil {
		errs = append(errs, err)
	}
	if _, ok := logRetention[c.LogRetentionDays]; !ok {
		valid := slices.Sorted(maps.Keys(logRetention))
		fail(KeyLogRetentionDays, "%d is not a CloudWatch Logs retention period (one of %v)", c.LogRetentionDays, valid)
	}

	if c.NotificationEmail, err = stringValue(lookup(KeyNotificationEmail)); err != nil {
		fail(KeyNotificationEmail, "%v", err)
	} else if c.NotificationEmail != "" && !emailRE.MatchString(c.NotificationEmail) {
		fail(KeyNotificationEmail, "%q is not an e-mail address", c.NotificationEmail)
	}
	if dir, err := stringValue(lookup(KeyLambdaAssetDir)); err != nil {
		fail(KeyLambdaAssetDir, "%v", err)
	} else if dir != "" {
		c.LambdaAssetDir = dir
	}

	var ingestErrs []error
	c.Ingest, ingestErrs = parseIngest(lookup(KeyIngest), c)
	errs = append(errs, ingestErrs...)
	var federateErrs []error
	c.Federate, federateErrs = parseFederate(lookup(KeyFederate))
	errs = append(errs, federateErrs...)
	var archiveErrs []error
	c.Archive, archiveErrs = parseArchive(lookup(KeyArchive), c)
	errs = append(errs, archiveErrs...)

	if len(errs) > 0 {
		return Config{}, errors.Join(errs...)
	}
	return c, nil
}

// CheckLambdaAssets reports the function directories that lack a bootstrap binary, so
// a synth without `make lambdas` fails with the fix rather than a jsii stack trace.
func (c Config) CheckLambdaAssets() error {
	var errs []error
	names := deploy.Functions
	if c.Ingest != nil {
		names = slices.Concat(names, deploy.IngestFunctions)
	}
	if c.Federate != nil {
		names = slices.Concat(names, deploy.FederateFunctions)
	}
	if c.Archive != nil {
		names = slices.Concat(names, deploy.ArchiveFunctions)
	}
	for _, name := range names {
		p := filepath.Join(c.LambdaAssetDir, name, "bootstrap")
		if _, err := os.Stat(p); err != nil {
			errs = append(errs, &ConfigError{Key: KeyLambdaAssetDir, Reason: fmt.Sprintf("no Lambda binary at %s (build it with GOOS=linux GOARCH=arm64 CGO_ENABLED=0 go build -tags lambda.norpc -o %s ./functions/%s): %v", p, p, name, err)})
		}
	}
	return errors.Join(errs...)
}

// intSetting reads a whole number key into dst (which holds its default) and
// checks it lies in [lo, hi].
func intSetting(lookup func(string) any, key string, dst *int, lo, hi int) error {
	v, err := intValue(lookup(key), *dst)
	switch {
	case err != nil:
		return &ConfigError{Key: key, Reason: err.Error()}
	case v < lo || v > hi:
		return &ConfigError{Key: key, Reason: fmt.Sprintf("%d is out of range [%d, %d]", v, lo, hi)}
	}
	*dst = v
	return nil
}

func stringList(v any) ([]string, error) {
	var raw []string
	switch t := v.(type) {
	case nil:
		return nil, nil
	case string:
		// `-c key=a,b` on the command line; a JSON array string is accepted too.
		s := strings.TrimSpace(t)
		s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
		for _, p := range strings.Split(s, ",") {
			raw = append(raw, strings.Trim(strings.TrimSpace(p), `"`))
		}
	case []any:
		for i, e := range t {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("element %d is %T, want a string", i, e)
			}
			raw = append(raw, s)
		}
	case []string:
		raw = t
	default:
		return nil, fmt.Errorf("is %T, want a list of strings", v)
	}
	var out []string
	for _, s := range raw {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out, nil
}

func stringValue(v any) (string, error) {
	switch t := v.(type) {
	case nil:
		return "", nil
	case string:
		return strings.TrimSpace(t), nil
	default:
		return "", fmt.Errorf("is %T, want a string", v)
	}
}

func intValue(v any, def int) (int, error) {
	switch t := v.(type) {
	case nil:
		return def, nil
	case float64:
		if t != float64(int(t)) {
			return 0, fmt.Errorf("%v is not a whole number", t)
		}
		return int(t), nil
	case int:
		return t, nil
	case string:
		n, err := strconv.Atoi(strings.TrimSpace(t))
		if err != nil {
			return 0, fmt.Errorf("%q is not a whole number", t)
		}
		return n, nil
	default:
		return 0, fmt.Errorf("is %T, want a number", v)
	}
}

func boolValue(v any) (bool, error) {
	switch t := v.(type) {
	case nil:
		return false, nil
	case bool:
		return t, nil
	case string:
		b, err := strconv.ParseBool(strings.TrimSpace(t))
		if err != nil {
			return false, fmt.Errorf("%q is not true or false", t)
		}
		return b, nil
	default:
		return false, fmt.Errorf("is %T, want true or false", v)
	}
}

func duplicate(list []string, norm func(string) string) string {
	seen := map[string]bool{}
	for _, s := range list {
		k := norm(s)
		if seen[k] {
			return s
		}
		seen[k] = true
	}
	return ""
}

// contextObject reads a context section that is an object: nil when it is not set.
// Values from cdk.json arrive as a JSON object, from `-c key=...` as its JSON text.
// A field not in fields is a *ConfigError naming it (in errs); a value that is no
// object at all is the one error returned in errs with a nil map.
func contextObject(key string, v any, fields []string) (m map[string]any, errs []error) {
	switch t := v.(type) {
	case nil:
		return nil, nil
	case string:
		if strings.TrimSpace(t) == "" {
			return nil, nil
		}
		if err := json.Unmarshal([]byte(t), &m); err != nil || m == nil {
			return nil, []error{&ConfigError{Key: key, Reason: fmt.Sprintf("is not a JSON object (%v)", err)}}
		}
	case map[string]any:
		m = t
	default:
		return nil, []error{&ConfigError{Key: key, Reason: fmt.Sprintf("is %T, want an object with %s", v, strings.Join(fields, ", "))}}
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if !slices.Contains(fields, k) {
			errs = append(errs, &ConfigError{Key: key, Field: k, Reason: fmt.Sprintf("unknown field (the fields are %s)", strings.Join(fields, ", "))})
		}
	}
	return m, errs
}

// Shared by the sections that name a Secrets Manager secret (snaplake:ingest's
// source, snaplake:federate's warehouses).
const fieldSecretKMSKeyArn = "secretKmsKeyArn"

var (
	// A complete secret ARN, with the six characters Secrets Manager appends to the
	// name: IAM matches the Resource against the complete ARN.
	secretArnRE = regexp.MustCompile(`^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]+-[A-Za-z0-9]{6}$`)
	// A key ARN, not an alias: IAM authorizes kms:Decrypt against the key's ARN.
	kmsKeyArnRE = regexp.MustCompile(`^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/(mrk-)?[0-9a-f-]{32,36}$`)
)

// checkSecretKMSKey says what is wrong with keyArn as the customer managed key of
// the secret secretArn ("" when nothing is, or when no key is given). The ingest
// source's secret and each Federator warehouse's secret take one.
func checkSecretKMSKey(secretArn, keyArn string) string {
	switch {
	case keyArn == "":
	case !kmsKeyArnRE.MatchString(keyArn):
		return fmt.Sprintf("%q is not a KMS key ARN (arn:aws:kms:<region>:<account>:key/<key id>; not an alias)", keyArn)
	case secretArn == "":
		return "a key without a secretArn: the key is the one the secret is encrypted with"
	case secretArnRE.MatchString(secretArn) && arnRegion(keyArn) != arnRegion(secretArn):
		// Secrets Manager encrypts a secret with a key of its own region.
		return fmt.Sprintf("%q is not in the same region as the secret (%s)", keyArn, arnRegion(secretArn))
	}
	return ""
}

// sectionReader reads the fields of one context section (an object of
// contextObject's), keeping a *ConfigError naming the field for every problem.
type sectionReader struct {
	key  string
	m    map[string]any
	errs []error
}

func (r *sectionReader) fail(field, format string, args ...any) {
	r.errs = append(r.errs, &ConfigError{Key: r.key, Field: field, Reason: fmt.Sprintf(format, args...)})
}

// str is the field as a string ("" when absent).
func (r *sectionReader) str(field string) string {
	s, err := stringValue(r.m[field])
	if err != nil {
		r.fail(field, "%v", err)
	}
	return s
}

// list is the field as a list of IDs matching re (what describes one).
func (r *sectionReader) list(field string, re *regexp.Regexp, what string) []string {
	l, problems := idList(r.m[field], re, what)
	for _, p := range problems {
		r.fail(field, "%s", p)
	}
	return l
}
