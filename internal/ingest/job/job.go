// Package job holds the ingest Glue job: a PySpark script that loads the tables of
// one run, as the JobPlan (internal/ingest) lists them, from MySQL/MariaDB into the
// lake, and writes a TableResult for each table it loaded. The stack uploads Script
// as the job's script; the finishing Lambda commits the watermarks from the results.
//
// The script is the one file of the project that is not Go; its tests check it
// against the Go contract (ingest.JobArgumentNames, the json tags of ingest.JobPlan,
// ingest.JobTable and ingest.TableResult), compile it, and run its table loop over a
// fake Spark.
package job

import (
	_ "embed"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// ScriptName is the script's file name (the key suffix it is uploaded under).
const ScriptName = "ingest_job.py"

// Script is the job's PySpark script.
//
//go:embed ingest_job.py
var Script []byte

var (
	argumentsLiteral = regexp.MustCompile(`(?m)^ARGUMENTS\s*=\s*\[([^\]]*)\]`)
	pythonString     = regexp.MustCompile(`^"([^"\\]*)"$|^'([^'\\]*)'$`)
)

// Arguments returns the strings of the script's module-level ARGUMENTS = [...]
// literal: the names the job reads with getResolvedOptions, without "--".
func Arguments(script []byte) ([]string, error) {
	m := argumentsLiteral.FindSubmatch(script)
	if m == nil {
		return nil, fmt.Errorf("%s: no module-level ARGUMENTS = [...] list", ScriptName)
	}
	var names []string
	for item := range strings.SplitSeq(string(m[1]), ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue // a trailing comma
		}
		s := pythonString.FindStringSubmatch(item)
		if s == nil {
			return nil, fmt.Errorf("%s: ARGUMENTS holds %s, not a plain string", ScriptName, strconv.Quote(item))
		}
		names = append(names, s[1]+s[2])
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%s: ARGUMENTS is empty", ScriptName)
	}
	return names, nil
}
