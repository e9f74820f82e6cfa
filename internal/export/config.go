package export

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Config is what a deployment sets for the start-export function.
type Config struct {
	Bucket                 string   // the lake bucket
	Prefix                 string   // where exports land, "exports/"
	RoleArn                string   // the role RDS assumes to write the export
	KMSKeyID               string   // the pipeline key; RDS requires one
	DBInstanceIDs          []string // instances whose snapshots are exported
	Databases              []string // ExportOnly: source databases to export (empty: all)
	IncludeManualSnapshots bool
	ExportTimeout          time.Duration
	CrawlTimeout           time.Duration
}

// ConfigError names the setting that is missing or wrong.
type ConfigError struct{ Name, Reason string }

func (e *ConfigError) Error() string { return fmt.Sprintf("configuration %s: %s", e.Name, e.Reason) }

// ConfigFromEnv reads the function's environment (see the CDK stack for the values).
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		Bucket:        getenv("BUCKET"),
		Prefix:        getenv("EXPORT_PREFIX"),
		RoleArn:       getenv("EXPORT_ROLE_ARN"),
		KMSKeyID:      getenv("KMS_KEY_ID"),
		DBInstanceIDs: splitList(getenv("DB_INSTANCE_IDS")),
		Databases:     splitList(getenv("DATABASES")),
		ExportTimeout: 12 * time.Hour,
		CrawlTimeout:  time.Hour,
	}
	if c.Prefix == "" {
		c.Prefix = "exports/"
	}
	for name, v := range map[string]string{"BUCKET": c.Bucket, "EXPORT_ROLE_ARN": c.RoleArn, "KMS_KEY_ID": c.KMSKeyID} {
		if v == "" {
			return Config{}, &ConfigError{Name: name, Reason: "not set"}
		}
	}
	if len(c.DBInstanceIDs) == 0 {
		return Config{}, &ConfigError{Name: "DB_INSTANCE_IDS", Reason: "not set: list the DB instances whose snapshots to export"}
	}
	if v := getenv("INCLUDE_MANUAL_SNAPSHOTS"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return Config{}, &ConfigError{Name: "INCLUDE_MANUAL_SNAPSHOTS", Reason: fmt.Sprintf("%q is not true or false", v)}
		}
		c.IncludeManualSnapshots = b
	}
	var err error
	if c.ExportTimeout, err = seconds(getenv, "EXPORT_TIMEOUT_SECONDS", c.ExportTimeout); err != nil {
		return Config{}, err
	}
	if c.CrawlTimeout, err = seconds(getenv, "CRAWL_TIMEOUT_SECONDS", c.CrawlTimeout); err != nil {
		return Config{}, err
	}
	return c, nil
}

func seconds(getenv func(string) string, name string, def time.Duration) (time.Duration, error) {
	v := getenv(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, &ConfigError{Name: name, Reason: fmt.Sprintf("%q is not a positive number of seconds", v)}
	}
	return time.Duration(n) * time.Second, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
