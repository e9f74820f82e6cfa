// Package statemachines embeds snaplake's Step Functions definitions (Amazon States
// Language, JSONPath), the one copy the CDK app deploys and the offline runner executes.
package statemachines

import (
	_ "embed"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// Export is the nightly export workflow. Its ${Name} placeholders are filled by
// CloudFormation DefinitionSubstitutions when deployed, and by Render offline.
//
//go:embed export.asl.json
var Export []byte

// Placeholders of the export workflow.
const (
	StartExportFunctionArn   = "StartExportFunctionArn"
	AwaitCallbackFunctionArn = "AwaitCallbackFunctionArn"
	RelocateFunctionArn      = "RelocateFunctionArn"
	LatestFunctionArn        = "LatestFunctionArn"
	CrawlerNamePrefix        = "CrawlerNamePrefix"
	NotificationTopicArn     = "NotificationTopicArn"
)

// Ingest is one run of a config-driven ingestion set (daily, frequent).
//
//go:embed ingest.asl.json
var Ingest []byte

// Placeholders of the ingest workflow (NotificationTopicArn too).
const (
	ReconfigureFunctionArn   = "ReconfigureFunctionArn"
	FinishIngestFunctionArn  = "FinishIngestFunctionArn"
	ApplyGrantsFunctionArn   = "ApplyGrantsFunctionArn"
	IngestCurrentFunctionArn = "IngestCurrentFunctionArn"
	IngestJobName            = "IngestJobName"
)

// FederatePublish and FederateSubscribe are the Federator's two workflows.
//
//go:embed federate-publish.asl.json
var FederatePublish []byte

//go:embed federate-subscribe.asl.json
var FederateSubscribe []byte

// FederateItem is one item of either Federator workflow (a table, or a subscriber's
// table), run as an execution of its own so that its polls fill its own history.
// It is deployed twice: with the publish function, and with the subscribe function.
//
//go:embed federate-item.asl.json
var FederateItem []byte

// Placeholders of the Federator's workflows (NotificationTopicArn too).
const (
	PublishFunctionArn   = "PublishFunctionArn"
	SubscribeFunctionArn = "SubscribeFunctionArn"
	// ItemStateMachineArn (publish, subscribe) is the federate-item state machine
	// each item runs as; ItemFunctionArn (federate-item) the function it calls.
	ItemStateMachineArn = "ItemStateMachineArn"
	ItemFunctionArn     = "ItemFunctionArn"
)

// Archive is one run of retention archiving: the plan, then each table archived
// by a bounded loop of invocations of the table function (one table at a time).
//
//go:embed archive.asl.json
var Archive []byte

// Placeholders of the archive workflow (NotificationTopicArn too).
const (
	ArchivePlanFunctionArn  = "ArchivePlanFunctionArn"
	ArchiveTableFunctionArn = "ArchiveTableFunctionArn"
)

// Definitions are every workflow by name (the file's name without .asl.json).
var Definitions = map[string][]byte{"export": Export, "ingest": Ingest, "federate-publish": FederatePublish, "federate-subscribe": FederateSubscribe, "federate-item": FederateItem, "archive": Archive}

var placeholderRE = regexp.MustCompile(`\$\{([A-Za-z0-9_]+)\}`)

// Placeholders returns the sorted names of the ${Name} placeholders in def.
func Placeholders(def []byte) []string {
	seen := map[string]bool{}
	for _, m := range placeholderRE.FindAllSubmatch(def, -1) {
		seen[string(m[1])] = true
	}
	var names []string
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Render substitutes every placeholder in def, as CloudFormation's
// DefinitionSubstitutions would. A placeholder without a value is an error.
func Render(def []byte, subs map[string]string) ([]byte, error) {
	var missing []string
	for _, n := range Placeholders(def) {
		if _, ok := subs[n]; !ok {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("render state machine: no value for %s", strings.Join(missing, ", "))
	}
	out := placeholderRE.ReplaceAllFunc(def, func(m []byte) []byte {
		return []byte(subs[string(m[2:len(m)-1])])
	})
	return out, nil
}
