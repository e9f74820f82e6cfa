package doctor

import (
	_ "embed"
	"fmt"
	"slices"
	"strings"

	"github.com/snaplake/snaplake/internal/deploy"
)

// permissionsFile is every call the offline run made and IAM allowed, with the
// deployment's names replaced by placeholders: the grants the deployed roles must
// have. A test keeps it equal to what the offline run records.
//
//go:embed permissions.txt
var permissionsFile []byte

// Permission is one line of permissions.txt:
//
//	<principal>\t<action>\t<resource template>\t<context template>
//
// The context template is "key=value" pairs separated by ";" (a value may list
// several values separated by ","), or empty; its tab may be left out when it is
// empty.
type Permission struct {
	Line      int    // 1-based line number in the file
	Principal string // a deploy.Fn* function or deploy.Role* service role name
	Action    string // "service:Operation"
	Resource  string // template
	Context   string // template, "" when none
}

// exampleRun is the example ingest run: ingest.RunID of the daily set's run
// scheduled at 02:00 in Berlin on 2026-01-01.
const exampleRun = "20260101T010000Z-daily"

// Placeholders of the per-night parts of a resource: fixed examples that look like
// what the pipeline names (see exportid, the RDS snapshot naming, relocate and,
// for the ingestion, ingest.RunID and its raw/<database>/<table>/load=<run>/ folders).
var examples = map[string]string{
	"exportId":     "snaplake-doctor-check",
	"snapshotTime": "2026-01-01-03-00",
	"table":        "doctor_check",
	"date":         "2026-01-01",
	"file":         "part-00000.gz.parquet",
	"key":          "doctor-check",
	"run":          exampleRun,
	"load":         "load=" + exampleRun,
	// The Federator's federator/<schema>.<table>/<version>/ and _loading/<subscriber>.json.
	"schema":     "doctor",
	"version":    "20260101T030000.000000Z_full_rows=0_ins=none_upd=none",
	"subscriber": "doctor-check",
	// The archive's state/archive-runs/<database>/<table>/cutoff=<stamp>.json.
	"stamp": "20260101T000000Z",
}

// stackPlaceholders are filled from the stack and its outputs.
// {crawler} is the crawler of each source database (deploy.CrawlerName), so it
// expands with {database}: a line naming both checks matching pairs.
// {ingestStateMachine} is the ingestion's workflow (IngestStateMachineArn);
// {federatePublishStateMachine} and {federateSubscribeStateMachine} the Federator's
// (FederatePublishStateMachineArn, FederateSubscribeStateMachineArn);
// {federateItemStateMachine:<function>} the federate-item workflow of a Federator
// function and {federateItemExecution:<function>} an execution of it
// (FederateItemStateMachineArns).
var stackPlaceholders = []string{"account", "region", "bucket", "kmsKey", "stateMachine", "topic", "instance", "cluster", "database", "crawler", "ingestStateMachine", "ingestDatabase", "ingestSecret", "archiveStateMachine", "archiveDatabase", "archiveSecret",
	"federatePublishStateMachine", "federateSubscribeStateMachine"}

// warehouseKinds are the names {warehouse:<kind>} may name: the Federator's
// warehouses, a Redshift Serverless workgroup or a provisioned cluster. They are the
// operator's, named in the snaplake:federate context section and in no stack output,
// so doctor cannot fill them in: their lines are not simulated (see namesWarehouse).
var warehouseKinds = []string{"workgroup", "cluster"}

// principals are the names a line may start with, and that {role:<name>} may name:
// the export's functions and service roles, then the ingestion's, then the Federator's.
func principals() []string {
	return slices.Concat(deploy.Functions, deploy.ServiceRoles, deploy.IngestFunctions, deploy.IngestServiceRoles,
		deploy.FederateFunctions, deploy.FederateServiceRoles, deploy.ArchiveFunctions, deploy.ArchiveServiceRoles)
}

// functions are the names {function:<name>} may name.
func functions() []string {
	return slices.Concat(deploy.Functions, deploy.IngestFunctions, deploy.FederateFunctions, deploy.ArchiveFunctions)
}

// archivePrincipal reports whether the principal is deployed with retention
// archiving (the snaplake:archive context section): its role is in the
// ArchiveRoleArns output, its function in ArchiveFunctionArns.
func archivePrincipal(name string) bool {
	return slices.Contains(deploy.ArchiveFunctions, name) || slices.Contains(deploy.ArchiveServiceRoles, name)
}

// federatePrincipal reports whether the principal is deployed with the Federator
// (the snaplake:federate context section): its role is in the FederateRoleArns
// output, its function in FederateFunctionArns.
func federatePrincipal(name string) bool {
	return slices.Contains(deploy.FederateFunctions, name) || slices.Contains(deploy.FederateServiceRoles, name)
}

// namesWarehouse reports whether the line names one of the Federator's warehouses
// ({warehouse:<kind>}), which doctor cannot fill in.
func (p Permission) namesWarehouse() bool {
	return strings.Contains(p.Resource+"\t"+p.Context, "{warehouse:")
}

// ingestPrincipal reports whether the principal is deployed with the config-driven
// ingestion (the snaplake:ingest context section): its role is in the IngestRoleArns
// output, its function in IngestFunctionArns.
func ingestPrincipal(name string) bool {
	return slices.Contains(deploy.IngestFunctions, name) || slices.Contains(deploy.IngestServiceRoles, name)
}

// roleOutput and functionOutput are the outputs that name the principal's role and function.
func roleOutput(principal string) string {
	if ingestPrincipal(principal) {
		return deploy.OutputIngestRoleArns
	}
	if federatePrincipal(principal) {
		return deploy.OutputFederateRoleArns
	}
	if archivePrincipal(principal) {
		return deploy.OutputArchiveRoleArns
	}
	return deploy.OutputRoleArns
}

func functionOutput(name string) string {
	if ingestPrincipal(name) {
		return deploy.OutputIngestFunctionArns
	}
	if federatePrincipal(name) {
		return deploy.OutputFederateFunctionArns
	}
	if archivePrincipal(name) {
		return deploy.OutputArchiveFunctionArns
	}
	return deploy.OutputFunctionArns
}

// Permissions returns the embedded permissions.txt, parsed.
func Permissions() ([]Permission, error) {
	return ParsePermissions(permissionsFile)
}

// ParsePermissions reads a permission list. Comment lines (starting with "#") and
// blank lines are skipped. A line with the wrong number of fields, an unknown
// principal, an action not of the form "service:Operation", a context pair
// without "=" or an unknown placeholder is an error naming the line.
func ParsePermissions(data []byte) ([]Permission, error) {
	var out []Permission
	for i, line := range strings.Split(string(data), "\n") {
		n := i + 1
		line = strings.TrimSuffix(line, "\r")
		if t := strings.TrimSpace(line); t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		fields := strings.Split(line, "\t")
		if len(fields) == 3 {
			fields = append(fields, "")
		}
		if len(fields) != 4 {
			return nil, fmt.Errorf("permissions.txt line %d: %d tab-separated fields, want 4 (principal, action, resource, context)", n, len(fields))
		}
		p := Permission{Line: n, Principal: fields[0], Action: fields[1], Resource: fields[2], Context: fields[3]}
		if !slices.Contains(principals(), p.Principal) {
			return nil, fmt.Errorf("permissions.txt line %d: unknown principal %q (want one of %s)", n, p.Principal, strings.Join(principals(), ", "))
		}
		if svc, op, ok := strings.Cut(p.Action, ":"); !ok || svc == "" || op == "" || strings.ContainsAny(p.Action, " {}") {
			return nil, fmt.Errorf("permissions.txt line %d: action %q is not of the form service:Operation", n, p.Action)
		}
		if p.Resource == "" {
			return nil, fmt.Errorf("permissions.txt line %d: no resource", n)
		}
		if err := checkTemplate(p.Resource); err != nil {
			return nil, fmt.Errorf("permissions.txt line %d: resource: %w", n, err)
		}
		if _, err := parseContext(p.Context); err != nil {
			return nil, fmt.Errorf("permissions.txt line %d: context: %w", n, err)
		}
		if err := checkTemplate(p.Context); err != nil {
			return nil, fmt.Errorf("permissions.txt line %d: context: %w", n, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// checkTemplate rejects unknown or unclosed placeholders.
func checkTemplate(s string) error {
	_, err := fill(s, func(name string) (string, error) {
		switch {
		case slices.Contains(stackPlaceholders, name):
		case examples[name] != "":
		case strings.HasPrefix(name, "role:") || strings.HasPrefix(name, "userid:"):
			if _, r, _ := strings.Cut(name, ":"); !slices.Contains(principals(), r) {
				return "", fmt.Errorf("placeholder {%s}: no function or service role %q", name, r)
			}
		case strings.HasPrefix(name, "function:"):
			if f := strings.TrimPrefix(name, "function:"); !slices.Contains(functions(), f) {
				return "", fmt.Errorf("placeholder {%s}: no function %q", name, f)
			}
		case strings.HasPrefix(name, "federateItemStateMachine:") || strings.HasPrefix(name, "federateItemExecution:"):
			if _, f, _ := strings.Cut(name, ":"); !slices.Contains(deploy.FederateFunctions, f) {
				return "", fmt.Errorf("placeholder {%s}: no Federator function %q", name, f)
			}
		case strings.HasPrefix(name, "warehouse:"):
			if k := strings.TrimPrefix(name, "warehouse:"); !slices.Contains(warehouseKinds, k) {
				return "", fmt.Errorf("placeholder {%s}: no warehouse kind %q (want one of %s)", name, k, strings.Join(warehouseKinds, ", "))
			}
		default:
			return "", fmt.Errorf("unknown placeholder {%s}", name)
		}
		return "", nil
	})
	return err
}

// fill replaces every {name} in s with value(name).
func fill(s string, value func(name string) (string, error)) (string, error) {
	var b strings.Builder
	for {
		open := strings.IndexByte(s, '{')
		if open < 0 {
			if strings.IndexByte(s, '}') >= 0 {
				return "", fmt.Errorf("%q: '}' without '{'", s)
			}
			b.WriteString(s)
			return b.String(), nil
		}
		end := strings.IndexByte(s[open:], '}')
		if end < 0 {
			return "", fmt.Errorf("%q: placeholder opened with '{' is never closed", s)
		}
		if strings.IndexByte(s[:open], '}') >= 0 {
			return "", fmt.Errorf("%q: '}' without '{'", s)
		}
		v, err := value(s[open+1 : open+end])
		if err != nil {
			return "", err
		}
		b.WriteString(s[:open])
		b.WriteString(v)
		s = s[open+end+1:]
	}
}

// ContextValue is one condition key of a grant and its values.
type ContextValue struct {
	Key    string
	Values []string
}

// parseContext reads "k=v1,v2;k2=v" (placeholders not yet filled).
func parseContext(s string) ([]ContextValue, error) {
	if s == "" {
		return nil, nil
	}
	var out []ContextValue
	for _, pair := range strings.Split(s, ";") {
		k, v, ok := strings.Cut(pair, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%q is not key=value", pair)
		}
		out = append(out, ContextValue{Key: k, Values: strings.Split(v, ",")})
	}
	return out, nil
}

// Values are what the placeholders stand for in one deployment.
type Values struct {
	Account, Region string
	Bucket          string            // BucketName
	KMSKey          string            // KeyArn
	StateMachine    string            // StateMachineArn
	Topic           string            // TopicArn
	Roles           map[string]string // RoleArns, and IngestRoleArns (see below)
	Functions       map[string]string // FunctionArns, and IngestFunctionArns
	Instances       []string          // DBInstanceIds: {instance} is checked for each
	Clusters        []string          // DBClusterIds: {cluster} is checked for each
	Databases       []string          // SourceDatabases: {database} is checked for each

	// IngestStateMachine is IngestStateMachineArn, "" when the stack does not deploy
	// the config-driven ingestion. When it does, Roles and Functions include the
	// ingestion's, from its outputs IngestRoleArns and IngestFunctionArns.
	IngestStateMachine string
	// IngestDatabase and IngestSecret are IngestGlueDatabaseName and IngestSecretArn.
	IngestDatabase, IngestSecret string
	// ArchiveStateMachine, ArchiveDatabases and ArchiveSecret are the archive's
	// outputs ("", nil when the stack does not deploy it).
	ArchiveStateMachine, ArchiveSecret string
	ArchiveDatabases                   []string

	// FederatePublishStateMachine and FederateSubscribeStateMachine are the outputs
	// FederatePublishStateMachineArn and FederateSubscribeStateMachineArn, "" when the
	// stack does not deploy the Federator. When it does, Roles and Functions include
	// its roles and functions, from FederateRoleArns and FederateFunctionArns.
	FederatePublishStateMachine, FederateSubscribeStateMachine string
	// FederateItemStateMachines are FederateItemStateMachineArns: the federate-item
	// workflow of each Federator function.
	FederateItemStateMachines map[string]string

	// RoleIDs are the unique ids (RoleId, "AROA...") of the roles whose aws:userid a
	// line names ({userid:<principal>}), read with iam:GetRole.
	RoleIDs map[string]string
}

// UserIDSession is the session doctor names in {userid:<principal>}: the Data API's
// statement owner is an aws:userid, "<role id>:<session>", and the Federator's
// policies allow any session of the function's role.
const UserIDSession = "snaplake-doctor"

// UserIDPrincipals are the principals whose role ids the permissions' lines name.
func UserIDPrincipals(perms []Permission) []string {
	var out []string
	for _, p := range perms {
		for rest := p.Resource + "\t" + p.Context; ; {
			i := strings.Index(rest, "{userid:")
			if i < 0 {
				break
			}
			rest = rest[i+len("{userid:"):]
			if j := strings.IndexByte(rest, '}'); j > 0 && !slices.Contains(out, rest[:j]) {
				out = append(out, rest[:j])
			}
		}
	}
	slices.Sort(out)
	return out
}

// Grant is one expanded permission: the principal's role must be allowed Action
// on Resource in Context.
type Grant struct {
	Line      int // of permissions.txt
	Principal string
	Action    string
	Resource  string
	Context   []ContextValue
}

// ContextString is the grant's context as permissions.txt writes it.
func (g Grant) ContextString() string {
	parts := make([]string, 0, len(g.Context))
	for _, c := range g.Context {
		parts = append(parts, c.Key+"="+strings.Join(c.Values, ","))
	}
	return strings.Join(parts, ";")
}

// String names the grant in messages: "action on resource [with context]".
func (g Grant) String() string {
	s := g.Action + " on " + g.Resource
	if c := g.ContextString(); c != "" {
		s += " with " + c
	}
	return s
}

// Expand fills the permission's placeholders: one grant per DB instance when it
// mentions {instance} (per Aurora cluster when it mentions {cluster}), per source
// database when it mentions {database} or {crawler}, per pair when it mentions both
// kinds. A value the deployment lacks (an empty source list, a role or function not
// in the outputs) is an error naming the line, except that a stack exporting only
// clusters (only instances) has no grant for the instances' (clusters') lines.
func (p Permission) Expand(v Values) ([]Grant, error) {
	both := p.Resource + "\t" + p.Context
	instances, databases := []string{""}, []string{""}
	for _, src := range []struct {
		placeholder, what string
		ids, others       []string
	}{{"{instance}", "DB instances", v.Instances, v.Clusters}, {"{cluster}", "DB clusters", v.Clusters, v.Instances}} {
		if !strings.Contains(both, src.placeholder) {
			continue
		}
		switch {
		case len(src.ids) > 0:
			instances = src.ids
		case len(src.others) > 0:
			return nil, nil // the stack exports the other kind of source only
		default:
			return nil, fmt.Errorf("permissions.txt line %d uses %s but the stack lists no %s", p.Line, src.placeholder, src.what)
		}
	}
	if strings.Contains(both, "{database}") || strings.Contains(both, "{crawler}") {
		if databases = v.Databases; len(databases) == 0 {
			return nil, fmt.Errorf("permissions.txt line %d uses {database} but the stack lists no source databases", p.Line)
		}
	}
	var out []Grant
	for _, inst := range instances {
		for _, db := range databases {
			value := func(name string) (string, error) {
				var s string
				switch name {
				case "account":
					s = v.Account
				case "region":
					s = v.Region
				case "bucket":
					s = v.Bucket
				case "kmsKey":
					s = v.KMSKey
				case "stateMachine":
					s = v.StateMachine
				case "topic":
					s = v.Topic
				case "ingestStateMachine":
					if s = v.IngestStateMachine; s == "" {
						return "", fmt.Errorf("permissions.txt line %d: {%s}: the stack has no IngestStateMachineArn output (it does not deploy the ingestion)", p.Line, name)
					}
				case "ingestDatabase":
					if s = v.IngestDatabase; s == "" {
						return "", fmt.Errorf("permissions.txt line %d: {%s}: the stack has no IngestGlueDatabaseName output (it does not deploy the ingestion)", p.Line, name)
					}
				case "ingestSecret":
					if s = v.IngestSecret; s == "" {
						return "", fmt.Errorf("permissions.txt line %d: {%s}: the stack has no IngestSecretArn output (it does not deploy the ingestion)", p.Line, name)
					}
				case "archiveStateMachine":
					if s = v.ArchiveStateMachine; s == "" {
						return "", fmt.Errorf("permissions.txt line %d: {%s}: the stack has no %s output (it does not deploy the archive)", p.Line, name, deploy.OutputArchiveStateMachineArn)
					}
				case "archiveSecret":
					if s = v.ArchiveSecret; s == "" {
						return "", fmt.Errorf("permissions.txt line %d: {%s}: the stack has no %s output (it does not deploy the archive)", p.Line, name, deploy.OutputArchiveSecretArn)
					}
				case "archiveDatabase":
					if len(v.ArchiveDatabases) == 0 {
						return "", fmt.Errorf("permissions.txt line %d: {%s}: the stack has no %s output (it does not deploy the archive)", p.Line, name, deploy.OutputArchiveGlueDatabases)
					}
					s = v.ArchiveDatabases[0]
				case "federatePublishStateMachine":
					if s = v.FederatePublishStateMachine; s == "" {
						return "", fmt.Errorf("permissions.txt line %d: {%s}: the stack has no FederatePublishStateMachineArn output (it does not deploy the Federator)", p.Line, name)
					}
				case "federateSubscribeStateMachine":
					if s = v.FederateSubscribeStateMachine; s == "" {
						return "", fmt.Errorf("permissions.txt line %d: {%s}: the stack has no FederateSubscribeStateMachineArn output (it does not deploy the Federator)", p.Line, name)
					}
				case "instance", "cluster":
					s = inst
				case "database":
					s = db
				case "crawler":
					s = deploy.CrawlerName(db)
				default:
					if ex, ok := examples[name]; ok {
						return ex, nil
					}
					if r, ok := strings.CutPrefix(name, "userid:"); ok {
						id := v.RoleIDs[r]
						if id == "" {
							return "", fmt.Errorf("permissions.txt line %d: {%s}: the unique id of role %s could not be read (iam:GetRole)", p.Line, name, r)
						}
						return id + ":" + UserIDSession, nil
					}
					if r, ok := strings.CutPrefix(name, "role:"); ok {
						if s = v.Roles[r]; s == "" {
							return "", fmt.Errorf("permissions.txt line %d: {%s}: the stack's %s output has no %q", p.Line, name, roleOutput(r), r)
						}
						return s, nil
					}
					if strings.HasPrefix(name, "warehouse:") {
						return "", fmt.Errorf("permissions.txt line %d: {%s}: no stack output names the Federator's warehouses", p.Line, name)
					}
					if kind, f, ok := strings.Cut(name, ":"); ok && (kind == "federateItemStateMachine" || kind == "federateItemExecution") {
						if s = v.FederateItemStateMachines[f]; s == "" {
							return "", fmt.Errorf("permissions.txt line %d: {%s}: the stack's %s output has no %q", p.Line, name, deploy.OutputFederateItemStateMachineArns, f)
						}
						if kind == "federateItemExecution" {
							// An execution of it: arn:...:execution:<machine name>:<execution name>.
							s = strings.Replace(s, ":stateMachine:", ":execution:", 1) + ":snaplake-doctor-example"
						}
						return s, nil
					}
					if f, ok := strings.CutPrefix(name, "function:"); ok {
						if s = v.Functions[f]; s == "" {
							return "", fmt.Errorf("permissions.txt line %d: {%s}: the stack's %s output has no %q", p.Line, name, functionOutput(f), f)
						}
						return s, nil
					}
					return "", fmt.Errorf("permissions.txt line %d: unknown placeholder {%s}", p.Line, name)
				}
				if s == "" {
					return "", fmt.Errorf("permissions.txt line %d: no value for {%s}", p.Line, name)
				}
				return s, nil
			}
			res, err := fill(p.Resource, value)
			if err != nil {
				return nil, err
			}
			tmpl, err := parseContext(p.Context)
			if err != nil {
				return nil, fmt.Errorf("permissions.txt line %d: context: %w", p.Line, err)
			}
			var ctx []ContextValue
			for _, c := range tmpl {
				cv := ContextValue{Key: c.Key}
				for _, val := range c.Values {
					f, err := fill(val, value)
					if err != nil {
						return nil, err
					}
					cv.Values = append(cv.Values, f)
				}
				ctx = append(ctx, cv)
			}
			g := Grant{Line: p.Line, Principal: p.Principal, Action: p.Action, Resource: res, Context: ctx}
			if !slices.ContainsFunc(out, func(o Grant) bool { return sameGrant(o, g) }) {
				out = append(out, g)
			}
		}
	}
	return out, nil
}

func sameGrant(a, b Grant) bool {
	return a.Principal == b.Principal && a.Action == b.Action && a.Resource == b.Resource && a.ContextString() == b.ContextString()
}
