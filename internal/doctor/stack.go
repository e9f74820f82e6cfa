package doctor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/smithy-go"

	"github.com/snaplake/snaplake/internal/deploy"
)

// RequiredOutputs are the stack outputs doctor reads or an operator needs; the CDK
// app writes them under the same names (deploy.Outputs).
var RequiredOutputs = deploy.Outputs

// SourceOutputs are the export's sources, DBInstanceIds and DBClusterIds: a stack
// has the one of each kind it exports, and at least one.
var SourceOutputs = deploy.SourceOutputs

// IngestOutputs are the outputs of the config-driven ingestion: a stack deploys them
// all when its snaplake:ingest context section is set, none otherwise.
var IngestOutputs = deploy.IngestOutputs

// FederateOutputs are the outputs of the Federator: a stack deploys them all when its
// snaplake:federate context section is set, none otherwise.
var FederateOutputs = deploy.FederateOutputs

// ArchiveOutputs are the outputs of retention archiving: a stack deploys them all
// when its snaplake:archive context section is set, none otherwise.
var ArchiveOutputs = deploy.ArchiveOutputs

// stack is what the stack check found.
type stack struct {
	name    string
	outputs map[string]string
	bad     []string // required outputs (and ingest outputs, when ingest) missing or unreadable
	values  Values
	// ingest: the stack deploys the ingestion (it has one of IngestOutputs).
	ingest bool
	// federate: the stack deploys the Federator (it has one of FederateOutputs).
	federate bool
	// archive: the stack deploys retention archiving (it has one of ArchiveOutputs).
	archive bool
	// deployRole is the stack's service role: CloudFormation makes every call of a
	// deploy as it ("" when the stack has none).
	deployRole string
}

// lacks returns which of the outputs are missing or unreadable.
func (s *stack) lacks(outputs ...string) []string {
	var out []string
	for _, o := range outputs {
		if slices.Contains(s.bad, o) {
			out = append(out, o)
		}
	}
	return out
}

// checkStack describes the stack and reads its outputs. It returns nil (and a
// failed result) when the stack does not exist, and an error when it cannot be
// described at all.
func (r *run) checkStack(ctx context.Context) (*stack, error) {
	name := r.cfg.Stack
	out, err := r.c.CloudFormation.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(name)})
	var api smithy.APIError
	if errors.As(err, &api) && api.ErrorCode() == "ValidationError" && strings.Contains(api.ErrorMessage(), "does not exist") {
		r.fail("stack", name, "does not exist in this account and region",
			"deploy it (cdk deploy), or point doctor at the right stack (--stack), account (AWS_PROFILE) and region (AWS_REGION)")
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("describe stack %s: %w", name, err)
	}
	if len(out.Stacks) == 0 {
		r.fail("stack", name, "does not exist in this account and region",
			"deploy it (cdk deploy), or point doctor at the right stack (--stack), account (AWS_PROFILE) and region (AWS_REGION)")
		return nil, nil
	}
	cs := out.Stacks[0]
	st := &stack{name: name, outputs: map[string]string{}, deployRole: aws.ToString(cs.RoleARN)}
	for _, o := range cs.Outputs {
		st.outputs[aws.ToString(o.OutputKey)] = aws.ToString(o.OutputValue)
	}
	var problems []string
	var missing []string
	for _, o := range RequiredOutputs {
		if _, ok := st.outputs[o]; !ok {
			missing = append(missing, o)
		}
	}
	if len(missing) > 0 {
		st.bad = append(st.bad, missing...)
		problems = append(problems, "missing outputs "+strings.Join(missing, ", "))
	}
	if !slices.ContainsFunc(SourceOutputs, func(o string) bool { _, ok := st.outputs[o]; return ok }) {
		st.bad = append(st.bad, SourceOutputs...)
		problems = append(problems, "no source: neither output "+strings.Join(SourceOutputs, " nor "))
	}
	var missingIngest []string
	for _, o := range IngestOutputs {
		if _, ok := st.outputs[o]; ok {
			st.ingest = true
		} else {
			missingIngest = append(missingIngest, o)
		}
	}
	if st.ingest && len(missingIngest) > 0 {
		st.bad = append(st.bad, missingIngest...)
		problems = append(problems, "it deploys the ingestion but lacks its outputs "+strings.Join(missingIngest, ", "))
	}
	var missingFederate []string
	for _, o := range FederateOutputs {
		if _, ok := st.outputs[o]; ok {
			st.federate = true
		} else {
			missingFederate = append(missingFederate, o)
		}
	}
	if st.federate && len(missingFederate) > 0 {
		st.bad = append(st.bad, missingFederate...)
		problems = append(problems, "it deploys the Federator but lacks its outputs "+strings.Join(missingFederate, ", "))
	}
	var missingArchive []string
	for _, o := range ArchiveOutputs {
		if _, ok := st.outputs[o]; ok {
			st.archive = true
		} else {
			missingArchive = append(missingArchive, o)
		}
	}
	if st.archive && len(missingArchive) > 0 {
		st.bad = append(st.bad, missingArchive...)
		problems = append(problems, "it deploys the archive but lacks its outputs "+strings.Join(missingArchive, ", "))
	}

	v := &st.values
	// arn:<partition>:cloudformation:<region>:<account>:stack/<name>/<id>
	if parts := strings.SplitN(aws.ToString(cs.StackId), ":", 6); len(parts) == 6 && parts[3] != "" && parts[4] != "" {
		v.Region, v.Account = parts[3], parts[4]
	} else {
		problems = append(problems, fmt.Sprintf("stack id %q is not an ARN with region and account", aws.ToString(cs.StackId)))
		st.bad = append(st.bad, "StackId")
	}
	v.Bucket = st.outputs[deploy.OutputBucketName]
	v.KMSKey = st.outputs[deploy.OutputKeyArn]
	v.StateMachine = st.outputs[deploy.OutputStateMachineArn]
	v.Topic = st.outputs[deploy.OutputTopicArn]
	v.IngestStateMachine = st.outputs[deploy.OutputIngestStateMachineArn]
	v.IngestDatabase = st.outputs[deploy.OutputIngestGlueDatabaseName]
	v.IngestSecret = st.outputs[deploy.OutputIngestSecretArn]
	v.ArchiveStateMachine = st.outputs[deploy.OutputArchiveStateMachineArn]
	v.ArchiveSecret = st.outputs[deploy.OutputArchiveSecretArn]
	v.ArchiveDatabases = deploy.SplitList(st.outputs[deploy.OutputArchiveGlueDatabases])
	v.FederatePublishStateMachine = st.outputs[deploy.OutputFederatePublishStateMachineArn]
	v.FederateSubscribeStateMachine = st.outputs[deploy.OutputFederateSubscribeStateMachineArn]
	if raw, ok := st.outputs[deploy.OutputFederateItemStateMachineArns]; ok {
		if err := json.Unmarshal([]byte(raw), &v.FederateItemStateMachines); err != nil || v.FederateItemStateMachines == nil {
			st.bad = append(st.bad, deploy.OutputFederateItemStateMachineArns)
			problems = append(problems, fmt.Sprintf("output %s is not a JSON object of names to ARNs (%.80q)", deploy.OutputFederateItemStateMachineArns, raw))
		}
	}
	v.Instances = deploy.SplitList(st.outputs[deploy.OutputDBInstanceIDs])
	v.Clusters = deploy.SplitList(st.outputs[deploy.OutputDBClusterIDs])
	v.Databases = deploy.SplitList(st.outputs[deploy.OutputSourceDatabases])
	// The ingestion's and the Federator's roles and functions join the export's:
	// principal names are distinct across the three (deploy), so one map of each
	// serves every line.
	v.Roles, v.Functions = map[string]string{}, map[string]string{}
	for _, m := range []struct {
		output string
		into   map[string]string
	}{{deploy.OutputRoleArns, v.Roles}, {deploy.OutputFunctionArns, v.Functions}, {deploy.OutputIngestRoleArns, v.Roles}, {deploy.OutputIngestFunctionArns, v.Functions},
		{deploy.OutputFederateRoleArns, v.Roles}, {deploy.OutputFederateFunctionArns, v.Functions},
		{deploy.OutputArchiveRoleArns, v.Roles}, {deploy.OutputArchiveFunctionArns, v.Functions}} {
		raw, ok := st.outputs[m.output]
		if !ok {
			continue
		}
		var arns map[string]string
		if err := json.Unmarshal([]byte(raw), &arns); err != nil || arns == nil {
			st.bad = append(st.bad, m.output)
			problems = append(problems, fmt.Sprintf("output %s is not a JSON object of names to ARNs (%.80q)", m.output, raw))
			continue
		}
		maps.Copy(m.into, arns)
	}
	for _, o := range []string{deploy.OutputDBInstanceIDs, deploy.OutputDBClusterIDs, deploy.OutputSourceDatabases} {
		if raw, ok := st.outputs[o]; ok && len(deploy.SplitList(raw)) == 0 {
			st.bad = append(st.bad, o)
			problems = append(problems, "output "+o+" is empty")
		}
	}

	where := fmt.Sprintf("%s in account %s, %s", cs.StackStatus, v.Account, v.Region)
	if len(problems) > 0 {
		r.fail("stack", name, where+"; "+strings.Join(problems, "; "),
			"deploy this version of snaplake (cdk deploy): its stack has every output doctor reads")
	} else {
		present := len(RequiredOutputs) // and the source outputs the stack has
		for _, o := range SourceOutputs {
			if _, ok := st.outputs[o]; ok {
				present++
			}
		}
		detail := fmt.Sprintf("%s; all %d outputs present", where, present)
		if st.ingest {
			detail += fmt.Sprintf(", and the ingestion's %d", len(IngestOutputs))
		}
		if st.federate {
			detail += fmt.Sprintf(", and the Federator's %d", len(FederateOutputs))
		}
		if st.archive {
			detail += fmt.Sprintf(", and the archive's %d", len(ArchiveOutputs))
		}
		r.pass("stack", name, detail)
	}
	return st, nil
}
