// Package events holds snaplake's EventBridge patterns and real-shaped sample events,
// embedded once and used by the CDK app, the offline event bus and the tests alike.
package events

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strings"
)

//go:embed patterns/*.json samples/*.json
var files embed.FS

// Pattern names, one per file under patterns/.
const (
	SnapshotCreated = "snapshot-created"
	ExportFinished  = "export-finished"
	CrawlerFinished = "crawler-finished"
	// TransformFinished starts the Federator's publish workflow: the transform (any
	// job the user runs) puts a "Transform Finished" event when its tables changed.
	TransformFinished = "transform-finished"
	// FederateManifestCreated starts the subscribe workflow for the table whose
	// version was just published: S3's "Object Created" for a version's
	// manifest.json in the lake bucket, never for the files UNLOAD writes beside it.
	FederateManifestCreated = "federate-manifest-created"
	// ClusterSnapshotCreated and ClusterExportFinished are the Aurora counterparts of
	// SnapshotCreated and ExportFinished: RDS reports an Aurora cluster's snapshots as
	// "RDS DB Cluster Snapshot Event", with event ids of their own.
	ClusterSnapshotCreated = "cluster-snapshot-created"
	ClusterExportFinished  = "cluster-export-finished"
)

// PatternNames lists every pattern of the nightly export (one rule each, when the
// deployment routes it: see Params.Routed).
func PatternNames() []string {
	return []string{SnapshotCreated, ExportFinished, ClusterSnapshotCreated, ClusterExportFinished, CrawlerFinished}
}

// Routed lists the nightly export's patterns this deployment has a rule for: the
// instance patterns when it exports DB instances, the cluster patterns when it
// exports Aurora clusters, and the crawler pattern always. A pattern whose
// sources are not configured has nothing to match (and no values to fill).
func (p Params) Routed() []string {
	var out []string
	for _, name := range PatternNames() {
		switch name {
		case SnapshotCreated, ExportFinished:
			if len(p.DBInstanceIDs) == 0 {
				continue
			}
		case ClusterSnapshotCreated, ClusterExportFinished:
			if len(p.DBClusterIDs) == 0 {
				continue
			}
		}
		out = append(out, name)
	}
	return out
}

// FederatePatternNames lists the Federator's patterns (one rule each).
func FederatePatternNames() []string {
	return []string{TransformFinished, FederateManifestCreated}
}

// AllPatternNames lists every embedded pattern.
func AllPatternNames() []string {
	return append(PatternNames(), FederatePatternNames()...)
}

// Vars fills a pattern's placeholders. Each placeholder may take several values: an
// array element that mentions "${Name}" is repeated once for every value of Name.
type Vars map[string][]string

// Params are what a deployment configures about its event routing.
type Params struct {
	DBInstanceIDs []string // the RDS instances whose snapshots are exported
	DBClusterIDs  []string // the Aurora DB clusters whose automated cluster snapshots are exported
	// CrawlerNames are the crawlers whose runs the pipeline waits for, matched as
	// name prefixes: deploy.CrawlerNamePrefix alone covers the crawlers the crawl wait
	// creates at runtime. A longer name it also matches has no wait to resume.
	CrawlerNames           []string
	IncludeManualSnapshots bool   // also export manual snapshots (RDS-EVENT-0042)
	LakeBucket             string // the lake bucket, whose manifests start the subscribers
}

// Vars turns deployment parameters into pattern variables.
func (p Params) Vars() Vars {
	ids := []string{EventAutomatedSnapshotCreated}
	if p.IncludeManualSnapshots {
		ids = append(ids, EventManualSnapshotCreated)
	}
	var prefixes []string
	for _, id := range p.DBInstanceIDs {
		prefixes = append(prefixes, "rds:"+id+"-")
		if p.IncludeManualSnapshots {
			prefixes = append(prefixes, id+"-")
		}
	}
	// Only automated cluster snapshots (RDS-EVENT-0169) are routed: manual cluster
	// snapshots have no naming convention that names their cluster.
	var clusterPrefixes []string
	for _, id := range p.DBClusterIDs {
		clusterPrefixes = append(clusterPrefixes, "rds:"+id+"-")
	}
	return Vars{
		"SnapshotCreatedEventId": ids,
		"SnapshotPrefix":         prefixes,
		"ClusterSnapshotPrefix":  clusterPrefixes,
		"CrawlerName":            p.CrawlerNames,
		"LakeBucket":             nonEmpty(p.LakeBucket),
	}
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// RawPattern returns the embedded pattern template, placeholders unfilled.
func RawPattern(name string) ([]byte, error) {
	b, err := files.ReadFile(path.Join("patterns", name+".json"))
	if err != nil {
		return nil, fmt.Errorf("read event pattern %q: %w", name, err)
	}
	return b, nil
}

// Pattern returns the named pattern with its placeholders filled from vars. It fails
// when a placeholder has no values, so a deployment never matches on a literal "${...}".
func Pattern(name string, vars Vars) (map[string]any, error) {
	raw, err := RawPattern(name)
	if err != nil {
		return nil, err
	}
	var tmpl map[string]any
	if err := json.Unmarshal(raw, &tmpl); err != nil {
		return nil, fmt.Errorf("parse event pattern %q: %w", name, err)
	}
	out, err := fill(tmpl, vars)
	if err != nil {
		return nil, fmt.Errorf("fill event pattern %q: %w", name, err)
	}
	// Only names of our own form count as unfilled: a value may itself be a CDK token
	// ("${Token[TOKEN.12]}"), which CloudFormation resolves when it deploys.
	if b, _ := json.Marshal(out); placeholderRE.Match(b) {
		return nil, fmt.Errorf("fill event pattern %q: unfilled placeholder in %s", name, b)
	}
	return out.(map[string]any), nil
}

var placeholderRE = regexp.MustCompile(`\$\{[A-Za-z0-9_]+\}`)

// PatternJSON is Pattern serialized.
func PatternJSON(name string, vars Vars) ([]byte, error) {
	p, err := Pattern(name, vars)
	if err != nil {
		return nil, err
	}
	return json.Marshal(p)
}

func fill(v any, vars Vars) (any, error) {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			f, err := fill(e, vars)
			if err != nil {
				return nil, err
			}
			out[k] = f
		}
		return out, nil
	case []any:
		var out []any
		for _, e := range t {
			name := placeholder(e)
			if name == "" {
				out = append(out, e)
				continue
			}
			vals := vars[name]
			if len(vals) == 0 {
				return nil, fmt.Errorf("no values for ${%s}", name)
			}
			for _, val := range vals {
				out = append(out, substitute(e, name, val))
			}
		}
		return out, nil
	default:
		return v, nil
	}
}

// placeholder returns the name of the first ${Name} in e, or "".
func placeholder(e any) string {
	b, _ := json.Marshal(e)
	s := string(b)
	i := strings.Index(s, "${")
	if i < 0 {
		return ""
	}
	j := strings.Index(s[i:], "}")
	if j < 0 {
		return ""
	}
	return s[i+2 : i+j]
}

func substitute(e any, name, val string) any {
	switch t := e.(type) {
	case string:
		return strings.ReplaceAll(t, "${"+name+"}", val)
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			out[k] = substitute(x, name, val)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = substitute(x, name, val)
		}
		return out
	default:
		return e
	}
}

// Sample returns the embedded sample event with the given file name (without .json).
func Sample(name string) ([]byte, error) {
	b, err := files.ReadFile(path.Join("samples", name+".json"))
	if err != nil {
		return nil, fmt.Errorf("read sample event %q: %w", name, err)
	}
	return b, nil
}

// SampleNames lists the embedded sample events, sorted.
func SampleNames() ([]string, error) {
	entries, err := fs.ReadDir(files, "samples")
	if err != nil {
		return nil, fmt.Errorf("list sample events: %w", err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".json"))
	}
	sort.Strings(names)
	return names, nil
}
