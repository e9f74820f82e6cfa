// Package contract is the deployment as the offline run sees it: each function's
// name, environment and IAM policies, the service roles and the stack's resources,
// all read from the synthesized CloudFormation template (contract.json is generated
// from it, and infra's TestOfflineContractMatchesTemplate proves the two equal).
package contract

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/snaplake/snaplake/internal/deploy"
)

// Account, Region and Stack are the offline deployment's coordinates: the template is
// synthesized environment-agnostic and resolved into this account and region.
const (
	Account = "000000000000"
	Region  = "us-east-1"
	Stack   = deploy.StackName
)

// Context is the CDK context the offline deployment is synthesized with: the
// instances and databases the demo and the tests use.
func Context() map[string]any {
	return map[string]any{
		"snaplake:dbInstanceIds": []any{"snaplake-demo", "warehouse-prod", "billing-prod"},
		// The Aurora clusters: the demo's Aurora night, and the sample events'.
		"snaplake:dbClusterIds":       []any{"snaplake-aurora", "warehouse-aurora"},
		"snaplake:databases":          []any{"warehouse"},
		"snaplake:retentionDays":      7,
		"snaplake:exportTimeoutHours": 12,
		"snaplake:notificationEmail":  "",
		// Config-driven ingestion of the demo's warehouse; the offline run replaces the
		// endpoint with the local MariaDB's.
		"snaplake:ingest": map[string]any{
			"database":  "warehouse",
			"secretArn": "arn:aws:secretsmanager:us-east-1:000000000000:secret:snaplake-demo-source-AbCdEf",
			"endpoint":  "127.0.0.1:3306",
			"timeZone":  "Europe/Berlin",
		},
		// The Federator between the demo's two warehouses: a Serverless workgroup
		// signed into as the functions' IAM identity, and a cluster with a secret in
		// another Region than the stack's (and the lake bucket's): its COPY reaches
		// the bucket only with REGION.
		"snaplake:federate": map[string]any{
			"warehouses": []any{
				map[string]any{"name": "transform", "arn": "arn:aws:redshift-serverless:us-east-1:000000000000:workgroup/00000000-0000-4000-8000-000000000001"},
				map[string]any{
					"name": "reporting", "arn": "arn:aws:redshift:eu-west-1:000000000000:cluster:reporting",
					"secretArn": "arn:aws:secretsmanager:us-east-1:000000000000:secret:snaplake-demo-reporting-AbCdEf",
				},
			},
		},
		// Retention archiving of the demo's warehouse as its archiving user; the
		// offline run replaces the endpoint with the local MariaDB's. With the
		// ingestion, Lake Formation governs the archive database.
		"snaplake:archive": map[string]any{
			"secretArn": "arn:aws:secretsmanager:us-east-1:000000000000:secret:snaplake-demo-archiver-AbCdEf",
			"endpoint":  "127.0.0.1:3306",
			"databases": []any{"warehouse"},
		},
	}
}

// File is the name of the generated contract, next to this source file.
const File = "contract.json"

//go:embed contract.json
var raw []byte

// RuntimeCatalogFile is the generated contract of RuntimeCatalogContext.
const RuntimeCatalogFile = "contract-runtime-catalog.json"

//go:embed contract-runtime-catalog.json
var rawRuntimeCatalog []byte

// RuntimeCatalogContext is Context for a stack that catalogs at runtime a database
// it was not deployed with: a Glue database prefix, and snapshot databases that IAM
// governs (no ingestion, hence no Lake Formation governance, no Federator and no
// archive).
func RuntimeCatalogContext() map[string]any {
	ctx := Context()
	delete(ctx, "snaplake:ingest")
	delete(ctx, "snaplake:federate")
	delete(ctx, "snaplake:archive")
	ctx["snaplake:glueDatabasePrefix"] = "snap_"
	return ctx
}

// LoadRuntimeCatalog parses the contract of RuntimeCatalogContext.
func LoadRuntimeCatalog() (*Contract, error) { return Parse(rawRuntimeCatalog) }

// GovernedCatalogFile is the generated contract of GovernedCatalogContext.
const GovernedCatalogFile = "contract-governed-catalog.json"

//go:embed contract-governed-catalog.json
var rawGovernedCatalog []byte

// GovernedCatalogContext is RuntimeCatalogContext with the ingestion (and still no
// Federator or archive): Lake
// Formation governs the snapshot databases, and the crawl wait grants on a new one
// as a data lake administrator.
func GovernedCatalogContext() map[string]any {
	ctx := Context()
	delete(ctx, "snaplake:federate")
	delete(ctx, "snaplake:archive")
	ctx["snaplake:glueDatabasePrefix"] = "snap_"
	return ctx
}

// LoadGovernedCatalog parses the contract of GovernedCatalogContext.
func LoadGovernedCatalog() (*Contract, error) { return Parse(rawGovernedCatalog) }

// Contract is the resolved deployment.
type Contract struct {
	Stack   string `json:"stack"`
	Account string `json:"account"`
	Region  string `json:"region"`

	Bucket             string `json:"bucket"` // the lake bucket
	KMSKeyArn          string `json:"kmsKeyArn"`
	TopicArn           string `json:"topicArn"`
	DeadLetterQueueArn string `json:"deadLetterQueueArn"`
	StateMachineArn    string `json:"stateMachineArn"`
	// DefinitionSubstitutions are the values CloudFormation puts into the state
	// machine's ${Name} placeholders.
	DefinitionSubstitutions map[string]string `json:"definitionSubstitutions"`

	Functions map[string]Function `json:"functions"` // by deploy.Fn* name
	Roles     map[string]Role     `json:"roles"`     // service roles by deploy.Role* name
	Crawlers  []Crawler           `json:"crawlers"`
	// GlueDatabases are the Glue databases the stack creates (AWS::Glue::Database),
	// the nightly snapshot databases, their _latest companions and the ingestion's:
	// the offline catalog starts with them.
	GlueDatabases []string          `json:"glueDatabases,omitempty"`
	Outputs       map[string]string `json:"outputs"`
	// LakePermissions are the Lake Formation permissions the stack gives on the nightly
	// snapshot databases (the ingestion's are Ingest.LakePermissions).
	LakePermissions []LakePermission `json:"lakePermissions,omitempty"`
	// LakeAdmins are the principals the stack appends to the account's data lake
	// administrators (AWS::LakeFormation::DataLakeSettings, MutationType APPEND).
	LakeAdmins []string `json:"lakeAdmins,omitempty"`
	// Ingest is the config-driven ingestion, when the stack deploys it.
	Ingest *Ingest `json:"ingest,omitempty"`
	// Federate is the Federator, when the stack deploys it.
	Federate *Federate `json:"federate,omitempty"`
	// Archive is retention archiving, when the stack deploys it (its functions are
	// in Functions, its service roles in Roles).
	Archive *Archive `json:"archive,omitempty"`
	// AnalystPolicy is the managed policy the stack publishes for analysts (the
	// AnalystPolicyArn output): what `snaplake query --as` evaluates for a role
	// named in the access rules, as IAM would for a role it is attached to.
	AnalystPolicy *ManagedPolicy `json:"analystPolicy,omitempty"`
	// RegisteredLocations are the S3 locations the stack registers with Lake
	// Formation (arn:aws:s3:::bucket/prefix): Athena reads a table under one of
	// them with credentials Lake Formation vends, any other table with the caller's.
	RegisteredLocations []string `json:"registeredLocations,omitempty"`
}

// ManagedPolicy is a customer managed policy of the stack.
type ManagedPolicy struct {
	Arn    string          `json:"arn"`
	Policy json.RawMessage `json:"policy"` // the policy document, resolved
}

// Federate is the Federator's part of the deployment.
type Federate struct {
	PublishStateMachineArn string `json:"publishStateMachineArn"`
	// PublishSubstitutions are the DefinitionSubstitutions of the publish workflow.
	PublishSubstitutions     map[string]string `json:"publishDefinitionSubstitutions"`
	SubscribeStateMachineArn string            `json:"subscribeStateMachineArn"`
	// SubscribeSubstitutions are the DefinitionSubstitutions of the subscribe workflow.
	SubscribeSubstitutions map[string]string `json:"subscribeDefinitionSubstitutions"`
	// ItemStateMachines are the federate-item workflows (one per function) the two
	// workflows run each item as: the DefinitionSubstitutions of each, by its ARN.
	ItemStateMachines map[string]map[string]string `json:"itemStateMachines"`
	// WarehouseRoleArn is the role the warehouses' UNLOAD and COPY assume (IAM_ROLE).
	WarehouseRoleArn string     `json:"warehouseRoleArn"`
	Schedules        []Schedule `json:"schedules"`
	// Rules are the EventBridge rules that start the workflows (by rule name): the
	// offline bus routes events by their deployed patterns and targets.
	Rules []Rule `json:"rules"`
	// BucketEventBridge says the lake bucket sends its events to EventBridge
	// (NotificationConfiguration.EventBridgeConfiguration).
	BucketEventBridge bool `json:"bucketEventBridge"`
}

// Archive is retention archiving's part of the deployment.
type Archive struct {
	StateMachineArn string `json:"stateMachineArn"`
	// DefinitionSubstitutions of the archive state machine.
	DefinitionSubstitutions map[string]string `json:"definitionSubstitutions"`
	// Schedule starts a run of every configured table.
	Schedule Schedule `json:"schedule"`
	// Databases are the archive Glue databases (<snapshot database>_archive), one
	// per archived source database; they are in GlueDatabases too.
	Databases []string `json:"databases"`
	// LakeLocation is archive/ registered with Lake Formation ("" where IAM governs
	// the archive databases); it is in RegisteredLocations too.
	LakeLocation string `json:"lakeLocation,omitempty"`
	// LakePermissions are the Lake Formation permissions the stack gives on the
	// archive databases and archive/.
	LakePermissions []LakePermission `json:"lakePermissions"`
}

// Rule is an EventBridge rule on the default bus as deployed.
type Rule struct {
	Name    string          `json:"name"`
	Pattern json.RawMessage `json:"pattern"` // the event pattern, resolved
	Targets []RuleTarget    `json:"targets"`
}

// RuleTarget is one target of a rule: what it starts, as which role, with which input.
type RuleTarget struct {
	Arn     string `json:"arn"`
	RoleArn string `json:"roleArn"`
	// InputPath is the part of the event the target receives ("" and no
	// InputTransformer: the whole event).
	InputPath        string            `json:"inputPath,omitempty"`
	InputTransformer *InputTransformer `json:"inputTransformer,omitempty"`
}

// InputTransformer is a target's input transformer: each path's value from the event
// replaces <name> in the template.
type InputTransformer struct {
	InputPathsMap map[string]string `json:"inputPathsMap"`
	InputTemplate string            `json:"inputTemplate"`
}

// Ingest is the ingestion's part of the deployment.
type Ingest struct {
	StateMachineArn string `json:"stateMachineArn"`
	// DefinitionSubstitutions of the ingest state machine.
	DefinitionSubstitutions map[string]string `json:"definitionSubstitutions"`
	// Database is the Glue database of the loaded tables (raw_<db>).
	Database  string     `json:"database"`
	Job       Job        `json:"job"`
	Crawlers  []Crawler  `json:"crawlers"`
	Schedules []Schedule `json:"schedules"`
	// LakeLocation is the S3 location registered with Lake Formation.
	LakeLocation string `json:"lakeLocation"`
	// LakePermissions are the Lake Formation permissions the stack gives its roles.
	LakePermissions []LakePermission `json:"lakePermissions"`
}

// LakePermission is one AWS::LakeFormation::PrincipalPermissions of the stack.
type LakePermission struct {
	Principal string `json:"principal"`
	// One of: Location (a data location), Database with Table "*" (every table),
	// Database with a Table, Database alone.
	Location    string   `json:"location,omitempty"`
	Database    string   `json:"database,omitempty"`
	Table       string   `json:"table,omitempty"`
	Permissions []string `json:"permissions"`
	Grantable   []string `json:"grantable,omitempty"`
}

// Job is the Glue job as deployed.
type Job struct {
	Name              string            `json:"name"`
	RoleArn           string            `json:"roleArn"`
	MaxConcurrentRuns int               `json:"maxConcurrentRuns"`
	DefaultArguments  map[string]string `json:"defaultArguments,omitempty"`
}

// Schedule is an EventBridge Scheduler schedule as deployed.
type Schedule struct {
	Name       string `json:"name"`
	Group      string `json:"group"`
	Expression string `json:"expression"`
	TimeZone   string `json:"timeZone"`
	State      string `json:"state"`
	TargetArn  string `json:"targetArn"`
	RoleArn    string `json:"roleArn"`
	Input      string `json:"input"`
}

// Function is one Lambda function as deployed.
type Function struct {
	Name        string            `json:"name"`
	Arn         string            `json:"arn"`
	Role        Role              `json:"role"`
	Environment map[string]string `json:"environment"`
}

// Role is an IAM role and the identity policies attached to it.
type Role struct {
	Name string `json:"name"`
	Arn  string `json:"arn"`
	// ID is the role's unique id (RoleId, AROA...), the first part of the aws:userid of
	// its sessions.
	ID       string            `json:"id,omitempty"`
	Policies []json.RawMessage `json:"policies"`
}

// Crawler is one Glue crawler as deployed.
type Crawler struct {
	Name          string   `json:"name"`
	Database      string   `json:"database"`
	RoleArn       string   `json:"roleArn"`
	Targets       []Target `json:"targets"`
	Configuration string   `json:"configuration"`
	// DeleteBehavior and UpdateBehavior are the crawler's SchemaChangePolicy: the
	// offline crawl deletes what AWS may delete (glue.DroppedTargetAssumption).
	DeleteBehavior string `json:"deleteBehavior,omitempty"`
	UpdateBehavior string `json:"updateBehavior,omitempty"`
}

// Target is one S3 include path of a crawler.
type Target struct {
	Path       string   `json:"path"`
	Exclusions []string `json:"exclusions,omitempty"`
}

// Load returns the embedded contract.
func Load() (*Contract, error) { return Parse(raw) }

// Parse reads a contract and checks it names everything the offline run needs.
func Parse(b []byte) (*Contract, error) {
	var c Contract
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("read the offline contract: %w", err)
	}
	if c.Bucket == "" || c.StateMachineArn == "" || len(c.Functions) == 0 {
		return nil, fmt.Errorf("the offline contract names no bucket, state machine or functions: regenerate it with `make contract`")
	}
	return &c, nil
}

// Getenv returns the function's environment as a lookup, as os.Getenv would in Lambda.
func (f Function) Getenv(name string) string { return f.Environment[name] }

// Marshal writes the contract in its canonical form (sorted keys, indented), so a
// regenerated file differs from the committed one only where the template does.
func (c *Contract) Marshal() ([]byte, error) {
	sort.Slice(c.Crawlers, func(i, j int) bool { return c.Crawlers[i].Name < c.Crawlers[j].Name })
	sortLakePermissions(c.LakePermissions)
	if c.Ingest != nil {
		sort.Slice(c.Ingest.Crawlers, func(i, j int) bool { return c.Ingest.Crawlers[i].Name < c.Ingest.Crawlers[j].Name })
		sort.Slice(c.Ingest.Schedules, func(i, j int) bool { return c.Ingest.Schedules[i].Name < c.Ingest.Schedules[j].Name })
		sortLakePermissions(c.Ingest.LakePermissions)
	}
	sort.Strings(c.RegisteredLocations)
	sort.Strings(c.GlueDatabases)
	if c.Archive != nil {
		sort.Strings(c.Archive.Databases)
		sortLakePermissions(c.Archive.LakePermissions)
	}
	if c.Federate != nil {
		sort.Slice(c.Federate.Schedules, func(i, j int) bool { return c.Federate.Schedules[i].Name < c.Federate.Schedules[j].Name })
		sort.Slice(c.Federate.Rules, func(i, j int) bool { return c.Federate.Rules[i].Name < c.Federate.Rules[j].Name })
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

func sortLakePermissions(ps []LakePermission) {
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i], ps[j]
		return a.Principal+a.Location+a.Database+a.Table < b.Principal+b.Location+b.Database+b.Table
	})
}

// MustLoad is Load for the offline tools, whose contract is embedded and checked by
// infra's tests: a contract that does not parse is a build defect, not bad input.
func MustLoad() *Contract {
	c, err := Load()
	if err != nil {
		panic(err)
	}
	return c
}

// RoleID is the offline unique id of the role named name: "AROA" and 17 characters,
// the shape of IAM's role ids ("AROA" + 17 upper-case letters and digits), derived
// from the name so that the contract and the offline run agree on it.
func RoleID(name string) string {
	sum := sha256.Sum256([]byte(name))
	return "AROA" + strings.ToUpper(hex.EncodeToString(sum[:]))[:17]
}
