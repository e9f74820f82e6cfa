// Package contract is the deployment as the offline run sees it: each function's
// name, environment and IAM policies, the service roles and the stack's resources,
// all read from the synthesized CloudFormation template (contract.json is generated
// from it, and infra's TestOfflineContractMatchesTemplate proves the two equal).
package contract

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"sort"
)

// Account, Region and Stack are the offline deployment's coordinates: the template is
// synthesized environment-agnostic and resolved into this account and region.
const (
	Account = "000000000000"
	Region  = "us-east-1"
	Stack   = "Snaplake"
)

// Context is the CDK context the offline deployment is synthesized with: the
// instances and databases the demo and the tests use.
func Context() map[string]any {
	return map[string]any{
		"snaplake:dbInstanceIds":      []any{"snaplake-demo", "warehouse-prod", "billing-prod"},
		"snaplake:databases":          []any{"warehouse"},
		"snaplake:retentionDays":      7,
		"snaplake:exportTimeoutHours": 12,
		"snaplake:notificationEmail":  "",
	}
}

// File is the name of the generated contract, next to this source file.
const File = "contract.json"

//go:embed contract.json
var raw []byte

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
	Outputs   map[string]string   `json:"outputs"`
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
	Name     string            `json:"name"`
	Arn      string            `json:"arn"`
	Policies []json.RawMessage `json:"policies"`
}

// Crawler is one Glue crawler as deployed.
type Crawler struct {
	Name          string   `json:"name"`
	Database      string   `json:"database"`
	RoleArn       string   `json:"roleArn"`
	Targets       []Target `json:"targets"`
	Configuration string   `json:"configuration"`
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
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
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
