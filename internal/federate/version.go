package federate

import (
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/federate/redshift"
)

// Prefix is where the Federator keeps the versions, in the bucket:
// Prefix<schema>/<table>/<version>/.
const Prefix = deploy.FederatePrefix

// Version kinds.
const (
	KindFull   = "full"   // every row of the table
	KindAppend = "append" // the rows inserted since the version it follows
)

// Version is a published version of a table. Its name says what deciding needs:
// when it was published, its kind, and the table's row count and greatest insert
// and update times at that moment, so that comparing reads no data.
type Version struct {
	Published time.Time
	Kind      string
	Rows      int64
	Inserted  *time.Time
	Updated   *time.Time
}

const stampLayout = "20060102T150405.000000Z"

// versionRE is a version's name:
// 20261203T101700.000000Z_full_rows=1234_ins=20261203T101500.123456Z_upd=none.
var versionRE = regexp.MustCompile(`^([0-9]{8}T[0-9]{6}\.[0-9]{6}Z)_(full|append)_rows=([0-9]{1,19})_ins=([0-9]{8}T[0-9]{6}\.[0-9]{6}Z|none)_upd=([0-9]{8}T[0-9]{6}\.[0-9]{6}Z|none)$`)

// Name is the version's folder name; names sort by publication time.
func (v Version) Name() string {
	stamp := func(t *time.Time) string {
		if t == nil {
			return "none"
		}
		return t.UTC().Format(stampLayout)
	}
	return fmt.Sprintf("%s_%s_rows=%d_ins=%s_upd=%s", v.Published.UTC().Format(stampLayout), v.Kind, v.Rows, stamp(v.Inserted), stamp(v.Updated))
}

// VersionNameError is a folder under a table's prefix whose name is not a version's
// (written by hand, say): that table is refused with it, the others go on.
type VersionNameError struct {
	Table, Name string
}

func (e *VersionNameError) Error() string {
	return fmt.Sprintf("table %s: %q under %s is not a version name (<published>_<full|append>_rows=<n>_ins=<time|none>_upd=<time|none>, times as %s): remove it or rename it",
		e.Table, e.Name, TableDir(e.Table), stampLayout)
}

// ParseVersion reads a version's name.
func ParseVersion(table, name string) (Version, error) {
	m := versionRE.FindStringSubmatch(name)
	if m == nil {
		return Version{}, &VersionNameError{Table: table, Name: name}
	}
	var v Version
	var err error
	if v.Published, err = time.Parse(stampLayout, m[1]); err != nil {
		return Version{}, &VersionNameError{Table: table, Name: name}
	}
	v.Kind = m[2]
	if v.Rows, err = strconv.ParseInt(m[3], 10, 64); err != nil {
		return Version{}, &VersionNameError{Table: table, Name: name}
	}
	for i, to := range []**time.Time{&v.Inserted, &v.Updated} {
		if s := m[4+i]; s != "none" {
			t, err := time.Parse(stampLayout, s)
			if err != nil {
				return Version{}, &VersionNameError{Table: table, Name: name}
			}
			*to = &t
		}
	}
	return v, nil
}

// Matches says the table's current state is the one v was published from.
func (v Version) Matches(s redshift.Stats) bool {
	return v.Rows == s.Rows && sameTime(v.Inserted, s.MaxInserted) && sameTime(v.Updated, s.MaxUpdated)
}

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	// Names keep microseconds, as Redshift's timestamps do.
	return a.UTC().Truncate(time.Microsecond).Equal(b.UTC().Truncate(time.Microsecond))
}

// Manifest is a version's manifest.json, written after its files: a version
// without one does not exist for subscribers.
type Manifest struct {
	Table   string `json:"table"` // schema.table
	Version string `json:"version"`
	Kind    string `json:"kind"`
	// After is the version an append version follows: a subscriber applies it only
	// on top of that one.
	After string `json:"after,omitempty"`
	// Columns are the table's definition when published: a subscriber without the
	// table creates it; one whose definition differs refuses the version.
	Columns []redshift.Column `json:"columns"`
	Files   []redshift.File   `json:"files"`
	Rows    int64             `json:"rows"`
}

// TableDir is the folder of a table's versions: federator/<schema>/<table>/.
func TableDir(table string) string { return Prefix + strings.Replace(table, ".", "/", 1) + "/" }

// VersionDir is a version's folder.
func VersionDir(table, version string) string { return TableDir(table) + version + "/" }

// ManifestKey is a version's manifest.
func ManifestKey(table, version string) string { return VersionDir(table, version) + manifestName }

// manifestName is the Federator's manifest in a version's folder. UNLOAD writes its
// own MANIFEST VERBOSE beside it as "manifest" (no extension), and subscribers their
// COPY manifests as "copy-manifest-...json": only this name marks a published version.
const manifestName = "manifest.json"

// ManifestTable is the table (schema.table) whose version's manifest key is, the
// reverse of ManifestKey; ok is false for any other key: the UNLOAD's files beside it,
// a statement record or lease that happens to end in /manifest.json, a folder whose
// name is not a version's. The version part may arrive URL-encoded (as S3 encodes keys
// in its notifications): it is checked decoded.
func ManifestTable(key string) (table string, ok bool) {
	rest, ok := strings.CutPrefix(key, Prefix)
	if !ok {
		return "", false
	}
	if rest, ok = strings.CutSuffix(rest, "/"+manifestName); !ok {
		return "", false
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || strings.HasPrefix(parts[0], ".") {
		return "", false
	}
	table = parts[0] + "." + parts[1]
	version := parts[2]
	if dec, err := url.QueryUnescape(version); err == nil {
		version = dec
	}
	if _, err := ParseVersion(table, version); err != nil {
		return "", false
	}
	return table, true
}
