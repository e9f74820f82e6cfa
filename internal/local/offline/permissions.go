package offline

import (
	"errors"
	"io/fs"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/local/contract"
	"github.com/snaplake/snaplake/internal/local/iam"
	"github.com/snaplake/snaplake/statemachines"
)

// PermissionsHeader starts the reviewed permission list (internal/doctor/permissions.txt).
const PermissionsHeader = `# Every call the offline run made that IAM allowed, one per line:
#   <principal> TAB <action> TAB <resource> TAB <condition keys>
# Generated from the offline runs ("make permissions": the demo's nights, the offline pipeline's night, the Federator's runs):
# a change here is a change of what the deployed roles are used for, to review like code.
# The deployment's own names are placeholders ({bucket}, {kmsKey}, {role:<name>}, {instance}, {cluster}, ...)
# and per-night names are examples ({exportId}, {table}, {date}, {file}, {key}); snaplake doctor
# fills them in and asks IAM's policy simulator whether each is allowed in the real account.
# {warehouse:workgroup} and {warehouse:cluster} are the Federator's warehouses, which no stack
# output names: doctor does not simulate their lines.
`

// contextKeys are the condition keys the stack's policies test; the others the
// offline run sets (kms:ViaService, s3:max-keys...) do not decide anything.
var contextKeys = []string{"s3:prefix", "iam:passedtoservice", "kms:grantisforawsresource", ownerKey}

// ownerKey is the Data API's statement owner, an aws:userid ("<role id>:<session>"):
// the list names it by the principal whose statements they are ({userid:<name>}),
// which doctor fills with that role's id.
const ownerKey = "redshift-data:statement-owner-iam-userid"

var (
	snapshotRE = regexp.MustCompile(`^arn:aws:rds:[^:]+:[^:]+:snapshot:rds:(.+)-\d{4}-\d{2}-\d{2}-\d{2}-\d{2}$`)
	// rdsClusterSnapshotRE is an Aurora cluster's automated cluster snapshot.
	rdsClusterSnapshotRE = regexp.MustCompile(`^arn:aws:rds:[^:]+:[^:]+:cluster-snapshot:rds:(.+)-\d{4}-\d{2}-\d{2}-\d{2}-\d{2}$`)
	crawlerRE            = regexp.MustCompile(`crawler/` + regexp.QuoteMeta(deploy.CrawlerNamePrefix) + `[^/]+$`)
	// glueTableRE is a catalog table's ARN: the table names depend on the source.
	glueTableRE = regexp.MustCompile(`table/([^/]+)/[^/*]+$`)
	// The Federator's warehouses are the operator's, not the stack's: no output names
	// them, so the reviewed list names their kind.
	workgroupRE = regexp.MustCompile(`^arn:aws:redshift-serverless:[^:]+:[^:]+:workgroup/[^/]+$`)
	clusterRE   = regexp.MustCompile(`^arn:aws:redshift:[^:]+:[^:]+:cluster:[^:]+$`)
)

// PermissionLines turns the allowed grants of an offline run into the reviewed list:
// the contract's names become placeholders, per-night names become examples, and
// duplicates collapse, so the list changes only when what the roles do changes.
func PermissionLines(c *contract.Contract, grants []iam.Grant) []string {
	var lines []string
	for _, g := range grants {
		ctx := []string{}
		for _, kv := range strings.Split(g.Context, ";") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || !slices.Contains(contextKeys, k) {
				continue
			}
			switch k {
			case "s3:prefix":
				v = normKey(v)
			case ownerKey:
				v = normOwner(c, g.Principal, v)
			}
			ctx = append(ctx, k+"="+v)
		}
		lines = append(lines, g.Principal+"\t"+g.Action+"\t"+normResource(c, g.Resource)+"\t"+strings.Join(ctx, ";"))
	}
	slices.Sort(lines)
	return slices.Compact(lines)
}

// normOwner names a statement owner by its principal: a session of the
// principal's own role is {userid:<principal>}; any other owner stays as it is
// (and doctor refuses it, so the review sees it).
func normOwner(c *contract.Contract, principal, v string) string {
	id := ""
	if fn, ok := c.Functions[principal]; ok {
		id = fn.Role.ID
	} else if r, ok := c.Roles[principal]; ok {
		id = r.ID
	}
	if id != "" && strings.HasPrefix(v, id+":") {
		return "{userid:" + principal + "}"
	}
	return v
}

func normResource(c *contract.Contract, r string) string {
	for name, fn := range c.Functions {
		switch r {
		case fn.Arn:
			return "{function:" + name + "}"
		case fn.Role.Arn:
			return "{role:" + name + "}"
		}
	}
	for name, role := range c.Roles {
		if r == role.Arn {
			return "{role:" + name + "}"
		}
	}
	if c.Ingest != nil {
		switch r {
		case c.Ingest.StateMachineArn:
			return "{ingestStateMachine}"
		case c.Functions[deploy.FnReconfigure].Environment[deploy.EnvSecretArn]:
			return "{ingestSecret}"
		}
		db := c.Ingest.Database
		r = strings.Replace(r, ":table/"+db+deploy.IngestCurrentSuffix+"/", ":table/{ingestDatabase}"+deploy.IngestCurrentSuffix+"/", 1)
		r = strings.Replace(r, ":database/"+db, ":database/{ingestDatabase}", 1)
		r = strings.Replace(r, ":table/"+db+"/", ":table/{ingestDatabase}/", 1)
	}
	if c.Archive != nil {
		switch r {
		case c.Archive.StateMachineArn:
			return "{archiveStateMachine}"
		case c.Functions[deploy.FnArchiveTable].Environment[deploy.EnvSecretArn]:
			return "{archiveSecret}"
		}
		for _, db := range c.Archive.Databases {
			r = strings.Replace(r, ":database/"+db, ":database/{archiveDatabase}", 1)
			r = strings.Replace(r, ":table/"+db+"/", ":table/{archiveDatabase}/", 1)
		}
	}
	if c.Federate != nil {
		switch r {
		case c.Federate.PublishStateMachineArn:
			return "{federatePublishStateMachine}"
		case c.Federate.SubscribeStateMachineArn:
			return "{federateSubscribeStateMachine}"
		}
		for arn, subs := range c.Federate.ItemStateMachines {
			for name, fn := range c.Functions {
				if fn.Arn != subs[statemachines.ItemFunctionArn] {
					continue
				}
				if r == arn {
					return "{federateItemStateMachine:" + name + "}"
				}
				if strings.HasPrefix(r, strings.Replace(arn, ":stateMachine:", ":execution:", 1)+":") {
					return "{federateItemExecution:" + name + "}"
				}
			}
		}
	}
	switch {
	case workgroupRE.MatchString(r):
		return "{warehouse:workgroup}"
	case clusterRE.MatchString(r):
		return "{warehouse:cluster}"
	}
	switch r {
	case c.StateMachineArn:
		return "{stateMachine}"
	case c.TopicArn:
		return "{topic}"
	case c.KMSKeyArn:
		return "{kmsKey}"
	}
	if rest, ok := strings.CutPrefix(r, "arn:aws:s3:::"+c.Bucket); ok {
		if key, ok := strings.CutPrefix(rest, "/"); ok {
			return "arn:aws:s3:::{bucket}/" + normKey(key)
		}
		return "arn:aws:s3:::{bucket}" + rest
	}
	r = strings.ReplaceAll(r, ":"+c.Region+":", ":{region}:")
	r = strings.ReplaceAll(r, ":"+c.Account+":", ":{account}:")
	// Snapshots come from the events, whose account and region are the source's.
	r = snapshotRE.ReplaceAllString(r, "arn:aws:rds:{region}:{account}:snapshot:rds:{instance}-{snapshotTime}")
	r = rdsClusterSnapshotRE.ReplaceAllString(r, "arn:aws:rds:{region}:{account}:cluster-snapshot:rds:{cluster}-{snapshotTime}")
	if !strings.Contains(r, "crawler/"+deploy.IngestCrawlerName("")) {
		r = crawlerRE.ReplaceAllString(r, "crawler/{crawler}")
	}
	r = glueTableRE.ReplaceAllString(r, "table/$1/{table}")
	return r
}

// normKey replaces the per-night parts of a lake key (or key prefix) by placeholders.
func normKey(k string) string {
	parts := strings.Split(k, "/")
	switch {
	case len(parts) >= 2 && parts[0]+"/" == deploy.ExportPrefix:
		parts[1] = "{exportId}"
		if len(parts) == 3 && parts[2] != "" && parts[2] != deploy.RelocateManifestName {
			parts[2] = "{file}" // export_info_*, export_tables_info_*
		}
		if len(parts) >= 4 {
			parts[2] = "{database}"
			if parts[3] != "" {
				parts[3] = "{database}.{table}"
			}
			if len(parts) >= 5 {
				parts = append(parts[:4], "{file}")
			}
		}
	case len(parts) >= 2 && parts[0]+"/" == deploy.DataPrefix:
		names := []string{"", "{database}", "{table}", "snapshot_date={date}", "{file}"}
		for i := 1; i < len(parts) && i < len(names); i++ {
			if parts[i] != "" {
				parts[i] = names[i]
			}
		}
		if len(parts) > len(names) {
			parts = parts[:len(names)]
		}
	case len(parts) == 3 && parts[0]+"/" == deploy.CallbackPrefix && parts[2] != "":
		parts[2] = "{key}.json"
	case len(parts) >= 2 && (parts[0]+"/" == deploy.RawPrefix || parts[0]+"/" == deploy.IngestCurrentPrefix):
		// raw/ and current/: <database>/<table>/{load,gen}=<run>/<file>
		names := []string{"", "{database}", "{table}", "{load}", "{file}"}
		for i := 1; i < len(parts) && i < len(names); i++ {
			if parts[i] == "" {
				continue
			}
			if i == 3 {
				if key, _, ok := strings.Cut(parts[i], "="); ok {
					parts[i] = key + "={run}" // load=<run> or gen=<run>
					continue
				}
			}
			parts[i] = names[i]
		}
		if len(parts) > len(names) {
			parts = parts[:len(names)]
		}
	case len(parts) >= 3 && parts[0]+"/"+parts[1]+"/" == deploy.IngestStatePrefix:
		// state/ingest/<database>/<table>/{watermark,lease}.json
		if parts[2] != "" {
			parts[2] = "{database}"
		}
		if len(parts) >= 4 && parts[3] != "" {
			parts[3] = "{table}"
		}
	case len(parts) >= 3 && parts[0]+"/"+parts[1]+"/" == deploy.FederateLeasePrefix:
		// federator/.leases/subscribers/<subscriber>.json and
		// federator/.leases/tables/<schema>.<table>.json
		if len(parts) >= 4 && parts[3] != "" {
			switch parts[2] {
			case "subscribers":
				parts[3] = "{subscriber}.json"
			case "tables":
				parts[3] = "{schema}.{table}.json"
			}
		}
	case len(parts) >= 3 && parts[0]+"/"+parts[1]+"/" == deploy.FederateStatementPrefix:
		// federator/.statements/<schema>.<table>/publish.json and
		// federator/.statements/<schema>.<table>/subscribers/<subscriber>.json
		if parts[2] != "" {
			parts[2] = "{schema}.{table}"
		}
		if len(parts) >= 5 && parts[3] == "subscribers" && parts[4] != "" {
			parts[4] = "{subscriber}.json"
		}
	case len(parts) >= 2 && parts[0]+"/" == deploy.FederatePrefix:
		// federator/<schema>/<table>/<version>/{<file>,manifest.json} and
		// federator/<schema>/<table>/_loading/<subscriber>.json
		for i, name := range []string{"", "{schema}", "{table}"} {
			if i > 0 && i < len(parts) && parts[i] != "" {
				parts[i] = name
			}
		}
		if len(parts) >= 4 && parts[3] != "" && parts[3] != "_loading" {
			parts[3] = "{version}"
		}
		if len(parts) >= 5 && parts[4] != "" {
			switch {
			case parts[3] == "_loading":
				parts[4] = "{subscriber}.json"
			case parts[4] != "manifest.json":
				parts[4] = "{file}"
			}
		}
	case len(parts) >= 2 && parts[0]+"/" == deploy.ArchivePrefix:
		// archive/<database>/<table>/cutoff=<date>/batch-<cutoff>-<n>.parquet (or a
		// prefix of it)
		names := []string{"", "{database}", "{table}", deploy.ArchivePartitionKey + "={date}", "{file}"}
		for i := 1; i < len(parts) && i < len(names); i++ {
			if parts[i] != "" {
				parts[i] = names[i]
			}
		}
		if len(parts) > len(names) {
			parts = parts[:len(names)]
		}
	case len(parts) >= 3 && parts[0]+"/"+parts[1]+"/" == deploy.ArchiveManifestPrefix:
		// state/archive-runs/<database>/<table>/cutoff=<stamp>.json; the run lease
		// state/archive-runs/run.lease.json is one key.
		if k == deploy.ArchiveRunLeaseKey {
			break
		}
		for i, name := range []string{"", "", "{database}", "{table}", deploy.ArchivePartitionKey + "={stamp}.json"} {
			if i >= 2 && i < len(parts) && parts[i] != "" {
				parts[i] = name
			}
		}
	case len(parts) >= 3 && parts[0]+"/"+parts[1]+"/" == deploy.IngestSetsPrefix:
		if parts[2] != "" {
			parts[2] = "{database}" // state/ingest-sets/<database>/<set>/lease.json
		}
	case len(parts) >= 3 && parts[0]+"/"+parts[1]+"/" == deploy.IngestRunsPrefix:
		// state/ingest-runs/<run>/plan.json and .../results/<table>/<file>
		if parts[2] != "" {
			parts[2] = "{run}"
		}
		if len(parts) == 5 && parts[3] == "current" && parts[4] != "" {
			parts[4] = "{table}.json" // the current function's result
		}
		if len(parts) >= 5 && parts[3] == "results" {
			if parts[4] != "" {
				parts[4] = "{table}"
			}
			if len(parts) >= 6 && parts[5] != "" {
				parts = append(parts[:5], "{file}")
			}
		}
	}
	return strings.Join(parts, "/")
}

// PermissionsFile is the reviewed list, relative to the module root.
const PermissionsFile = "internal/doctor/permissions.txt"

// ComparePermissions checks the calls a run was allowed against the reviewed list at
// path: new lists the calls the list lacks (a permission nobody reviewed). Runs take
// different paths (which function resumes a failed export depends on timing), so a
// listed call one run did not make is not an error; unused lists those. With update,
// the new calls are added to the file.
func ComparePermissions(c *contract.Contract, allowed []iam.Grant, path string, update bool) (added, unused []string, err error) {
	lines := PermissionLines(c, allowed)
	raw, err := os.ReadFile(path)
	if err != nil && !(update && errors.Is(err, fs.ErrNotExist)) {
		return nil, nil, err
	}
	var listed []string
	for _, l := range strings.Split(string(raw), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			listed = append(listed, l)
		}
	}
	for _, l := range lines {
		if !slices.Contains(listed, l) {
			added = append(added, l)
		}
	}
	for _, l := range listed {
		if !slices.Contains(lines, l) {
			unused = append(unused, l)
		}
	}
	if update && len(added) > 0 {
		all := append(slices.Clone(listed), added...)
		slices.Sort(all)
		all = slices.Compact(all)
		if err := os.WriteFile(path, []byte(PermissionsHeader+"\n"+strings.Join(all, "\n")+"\n"), 0o644); err != nil {
			return nil, nil, err
		}
		added = nil
	}
	return added, unused, nil
}
