package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/local/contract"
	"github.com/snaplake/snaplake/statemachines"
)

var updateContract = flag.Bool("update-contract", false, "rewrite internal/local/contract/contract.json from the synthesized template")

// TestOfflineContractMatchesTemplate synthesizes the stack with the offline context,
// resolves the template into the offline account, and compares the result with the
// contract the offline run reads. A change to any function's environment or any
// role's policy fails here until the contract is regenerated (`make contract`).
func TestOfflineContractMatchesTemplate(t *testing.T) {
	for _, tc := range []struct {
		file string
		ctx  map[string]any
	}{
		{contract.File, contract.Context()},
		// A stack that catalogs new databases at runtime (a Glue database prefix,
		// snapshot databases governed by IAM).
		{contract.RuntimeCatalogFile, contract.RuntimeCatalogContext()},
		// The same, governed by Lake Formation (with the ingestion).
		{contract.GovernedCatalogFile, contract.GovernedCatalogContext()},
	} {
		t.Run(tc.file, func(t *testing.T) {
			dir := t.TempDir()
			writeDummyAssets(t, dir)
			ctx := tc.ctx
			ctx[KeyLambdaAssetDir] = dir
			cfg, err := ParseConfig(lookupFrom(ctx))
			if err != nil {
				t.Fatalf("offline context: %v", err)
			}
			s := synth(t, cfg)
			got, err := resolveContract(s.json)
			if err != nil {
				t.Fatalf("resolve the template: %v", err)
			}
			b, err := got.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("..", "internal", "local", "contract", tc.file)
			if *updateContract {
				if err := os.WriteFile(path, b, 0o644); err != nil {
					t.Fatal(err)
				}
				t.Logf("wrote %s", path)
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b, want) {
				t.Errorf("%s differs from the synthesized template; run `make contract` and review the diff:\n%s", path, lineDiff(string(want), string(b)))
			}
		})
	}
}

// lineDiff shows the first lines that differ, enough to see what changed.
func lineDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	var out []string
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			out = append(out, fmt.Sprintf("line %d:\n  committed: %s\n  template:  %s", i+1, x, y))
		}
		if len(out) == 10 {
			break
		}
	}
	return strings.Join(out, "\n")
}

// resolver turns a CloudFormation template's intrinsic functions into the values
// they take once deployed into the offline account.
type resolver struct {
	resources map[string]map[string]any
}

func (r *resolver) physicalName(id string) string {
	return contract.Stack + "-" + id
}

func (r *resolver) props(id string) map[string]any {
	p, _ := r.resources[id]["Properties"].(map[string]any)
	return p
}

func (r *resolver) typ(id string) string {
	t, _ := r.resources[id]["Type"].(string)
	return t
}

var nonBucket = regexp.MustCompile(`[^a-z0-9-]`)

// subVar is one ${Name} or ${Resource.Attribute} of an Fn::Sub string.
var subVar = regexp.MustCompile(`\$\{[A-Za-z0-9:.]+\}`)

func (r *resolver) ref(id string) (string, error) {
	switch id {
	case "AWS::Partition":
		return "aws", nil
	case "AWS::Region":
		return contract.Region, nil
	case "AWS::AccountId":
		return contract.Account, nil
	case "AWS::URLSuffix":
		return "amazonaws.com", nil
	case "AWS::StackName":
		return contract.Stack, nil
	}
	if _, ok := r.resources[id]; !ok {
		return "", fmt.Errorf("Ref to unknown resource %s", id)
	}
	p := r.props(id)
	named := func(key string) (string, error) {
		if v, ok := p[key]; ok {
			return r.str(v)
		}
		return r.physicalName(id), nil
	}
	switch r.typ(id) {
	case "AWS::S3::Bucket":
		if v, ok := p["BucketName"]; ok {
			return r.str(v)
		}
		return nonBucket.ReplaceAllString(strings.ToLower(r.physicalName(id)), ""), nil
	case "AWS::KMS::Key":
		sum := sha256.Sum256([]byte(id))
		h := hex.EncodeToString(sum[:])
		return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32], nil
	case "AWS::IAM::Role":
		return named("RoleName")
	case "AWS::IAM::ManagedPolicy":
		name, err := named("ManagedPolicyName")
		return "arn:aws:iam::" + contract.Account + ":policy/" + name, err
	case "AWS::Lambda::Function":
		return named("FunctionName")
	case "AWS::SNS::Topic":
		name, err := named("TopicName")
		return fmt.Sprintf("arn:aws:sns:%s:%s:%s", contract.Region, contract.Account, name), err
	case "AWS::SQS::Queue":
		name, err := named("QueueName")
		return fmt.Sprintf("https://sqs.%s.amazonaws.com/%s/%s", contract.Region, contract.Account, name), err
	case "AWS::StepFunctions::StateMachine":
		name, err := named("StateMachineName")
		return fmt.Sprintf("arn:aws:states:%s:%s:stateMachine:%s", contract.Region, contract.Account, name), err
	case "AWS::Logs::LogGroup":
		return named("LogGroupName")
	case "AWS::Glue::Database":
		return r.str(p["DatabaseInput"].(map[string]any)["Name"])
	case "AWS::Glue::Job", "AWS::Glue::Connection":
		if v, ok := p["ConnectionInput"].(map[string]any); ok {
			return r.str(v["Name"])
		}
		return named("Name")
	case "AWS::Scheduler::Schedule", "AWS::Scheduler::ScheduleGroup":
		return named("Name")
	case "AWS::Glue::Crawler", "AWS::Glue::SecurityConfiguration", "AWS::Athena::WorkGroup", "AWS::Events::Rule", "AWS::CloudWatch::Alarm":
		key := "Name"
		if r.typ(id) == "AWS::CloudWatch::Alarm" {
			key = "AlarmName"
		}
		return named(key)
	}
	return "", fmt.Errorf("Ref to %s (%s): no offline physical name for this type", id, r.typ(id))
}

func (r *resolver) getAtt(id, attr string) (string, error) {
	name, err := r.ref(id)
	if err != nil {
		return "", err
	}
	arn := func(service, res string) string {
		return fmt.Sprintf("arn:aws:%s:%s:%s:%s", service, contract.Region, contract.Account, res)
	}
	switch r.typ(id) + "." + attr {
	case "AWS::S3::Bucket.Arn":
		return "arn:aws:s3:::" + name, nil
	case "AWS::IAM::Role.Arn":
		return "arn:aws:iam::" + contract.Account + ":role/" + name, nil
	case "AWS::IAM::Role.RoleId":
		return contract.RoleID(name), nil
	case "AWS::KMS::Key.Arn":
		return arn("kms", "key/"+name), nil
	case "AWS::Lambda::Function.Arn":
		return arn("lambda", "function:"+name), nil
	case "AWS::SQS::Queue.Arn":
		return arn("sqs", name[strings.LastIndex(name, "/")+1:]), nil
	case "AWS::SQS::Queue.QueueName":
		return name[strings.LastIndex(name, "/")+1:], nil
	case "AWS::SNS::Topic.TopicArn":
		return name, nil
	case "AWS::SNS::Topic.TopicName":
		return name[strings.LastIndex(name, ":")+1:], nil
	case "AWS::Logs::LogGroup.Arn":
		return arn("logs", "log-group:"+name+":*"), nil
	case "AWS::StepFunctions::StateMachine.Arn":
		return name, nil
	case "AWS::StepFunctions::StateMachine.Name":
		return name[strings.LastIndex(name, ":")+1:], nil
	case "AWS::Scheduler::Schedule.Arn":
		group := "default"
		if g, ok := r.props(id)["GroupName"]; ok {
			if group, err = r.str(g); err != nil {
				return "", err
			}
		}
		return arn("scheduler", "schedule/"+group+"/"+name), nil
	case "AWS::Scheduler::ScheduleGroup.Arn":
		return arn("scheduler", "schedule-group/"+name), nil
	}
	return "", fmt.Errorf("Fn::GetAtt %s.%s (%s): not resolvable offline", id, attr, r.typ(id))
}

func (r *resolver) str(v any) (string, error) {
	out, err := r.resolve(v)
	if err != nil {
		return "", err
	}
	s, ok := out.(string)
	if !ok {
		return "", fmt.Errorf("%v resolves to %T, want a string", v, out)
	}
	return s, nil
}

// resolve replaces every intrinsic function in v by its value.
func (r *resolver) resolve(v any) (any, error) {
	switch t := v.(type) {
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			x, err := r.resolve(e)
			if err != nil {
				return nil, err
			}
			out[i] = x
		}
		return out, nil
	case map[string]any:
		if len(t) == 1 {
			for k, arg := range t {
				switch k {
				case "Ref":
					return r.ref(arg.(string))
				case "Fn::GetAtt":
					a := arg.([]any)
					return r.getAtt(a[0].(string), a[1].(string))
				case "Fn::Join":
					a := arg.([]any)
					parts, err := r.resolve(a[1])
					if err != nil {
						return nil, err
					}
					var ss []string
					for _, p := range parts.([]any) {
						ss = append(ss, fmt.Sprint(p))
					}
					return strings.Join(ss, a[0].(string)), nil
				case "Fn::Select":
					a := arg.([]any)
					list, err := r.resolve(a[1])
					if err != nil {
						return nil, err
					}
					idx := int(a[0].(float64))
					return list.([]any)[idx], nil
				case "Fn::Split":
					a := arg.([]any)
					s, err := r.str(a[1])
					if err != nil {
						return nil, err
					}
					var out []any
					for _, p := range strings.Split(s, a[0].(string)) {
						out = append(out, p)
					}
					return out, nil
				case "Fn::Sub":
					// The string form with pseudo parameters and resource names (CDK's
					// asset bucket: cdk-hnb659fds-assets-${AWS::AccountId}-${AWS::Region}).
					str, ok := arg.(string)
					if !ok {
						return nil, fmt.Errorf("Fn::Sub with a variable map is not resolvable offline")
					}
					var subErr error
					out := subVar.ReplaceAllStringFunc(str, func(m string) string {
						name := m[2 : len(m)-1]
						if id, attr, ok := strings.Cut(name, "."); ok {
							v, err := r.getAtt(id, attr)
							subErr = errors.Join(subErr, err)
							return v
						}
						v, err := r.ref(name)
						subErr = errors.Join(subErr, err)
						return v
					})
					return out, subErr
				case "Fn::If", "Fn::ImportValue", "Fn::FindInMap", "Fn::Base64", "Fn::GetAZs":
					return nil, fmt.Errorf("%s is not resolvable offline", k)
				}
			}
		}
		out := map[string]any{}
		for k, e := range t {
			x, err := r.resolve(e)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			out[k] = x
		}
		return out, nil
	}
	return v, nil
}

func tagValue(props map[string]any, key string) string {
	for _, tg := range asList(props["Tags"]) {
		if m, ok := tg.(map[string]any); ok && m["Key"] == key {
			s, _ := m["Value"].(string)
			return s
		}
	}
	return ""
}

// rolePolicies resolves every identity policy attached to the role: inline policies,
// AWS::IAM::Policy resources naming it, and managed policies of this template. An AWS
// managed policy cannot be evaluated offline and is an error.
func (r *resolver) role(id string) (contract.Role, error) {
	name, err := r.ref(id)
	if err != nil {
		return contract.Role{}, err
	}
	arn, _ := r.getAtt(id, "Arn")
	role := contract.Role{Name: name, Arn: arn, ID: contract.RoleID(name)}
	add := func(doc any) error {
		res, err := r.resolve(doc)
		if err != nil {
			return fmt.Errorf("policy of role %s: %w", id, err)
		}
		b, err := json.Marshal(res)
		if err != nil {
			return err
		}
		role.Policies = append(role.Policies, b)
		return nil
	}
	p := r.props(id)
	for _, pol := range asList(p["Policies"]) {
		if m, ok := pol.(map[string]any); ok {
			if err := add(m["PolicyDocument"]); err != nil {
				return role, err
			}
		}
	}
	for _, mp := range asList(p["ManagedPolicyArns"]) {
		if mp == nil {
			continue
		}
		return role, fmt.Errorf("role %s has the managed policy %v: the offline run cannot evaluate it; grant inline what it needs", id, mp)
	}
	var ids []string
	for pid := range r.resources {
		ids = append(ids, pid)
	}
	sort.Strings(ids)
	for _, pid := range ids {
		if r.typ(pid) != "AWS::IAM::Policy" && r.typ(pid) != "AWS::IAM::ManagedPolicy" {
			continue
		}
		pp := r.props(pid)
		for _, ro := range asList(pp["Roles"]) {
			if m, ok := ro.(map[string]any); ok && m["Ref"] == id {
				if err := add(pp["PolicyDocument"]); err != nil {
					return role, err
				}
			}
		}
	}
	return role, nil
}

// analystPolicyOutput is the stack output naming the published analyst policy.
const analystPolicyOutput = deploy.OutputAnalystPolicyArn

// resolveContract reads the deployment out of a synthesized template.
func resolveContract(tmpl map[string]any) (*contract.Contract, error) {
	r := &resolver{resources: map[string]map[string]any{}}
	for id, res := range tmpl["Resources"].(map[string]any) {
		r.resources[id] = res.(map[string]any)
	}
	c := &contract.Contract{
		Stack: contract.Stack, Account: contract.Account, Region: contract.Region,
		Functions: map[string]contract.Function{}, Roles: map[string]contract.Role{}, Outputs: map[string]string{},
	}
	for name, o := range tmpl["Outputs"].(map[string]any) {
		v, err := r.str(o.(map[string]any)["Value"])
		if err != nil {
			return nil, fmt.Errorf("output %s: %w", name, err)
		}
		c.Outputs[name] = v
	}
	c.Bucket = c.Outputs[deploy.OutputBucketName]
	c.TopicArn = c.Outputs[deploy.OutputTopicArn]
	c.StateMachineArn = c.Outputs[deploy.OutputStateMachineArn]
	c.KMSKeyArn = c.Outputs[deploy.OutputKeyArn]
	ingest := func() *contract.Ingest {
		if c.Ingest == nil {
			c.Ingest = &contract.Ingest{}
		}
		return c.Ingest
	}
	archive := func() *contract.Archive {
		if c.Archive == nil {
			c.Archive = &contract.Archive{}
		}
		return c.Archive
	}
	federate := func() *contract.Federate {
		if c.Federate == nil {
			c.Federate = &contract.Federate{}
		}
		return c.Federate
	}

	var ids []string
	for id := range r.resources {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var lakePermissions []contract.LakePermission
	var rules []contract.Rule
	for _, id := range ids {
		p := r.props(id)
		switch r.typ(id) {
		case "AWS::Lambda::Function":
			name := tagValue(p, deploy.TagFunction)
			if name == "" {
				return nil, fmt.Errorf("function %s has no %s tag", id, deploy.TagFunction)
			}
			fn := contract.Function{Environment: map[string]string{}}
			var err error
			if fn.Name, err = r.ref(id); err != nil {
				return nil, err
			}
			fn.Arn, _ = r.getAtt(id, "Arn")
			vars, _ := p["Environment"].(map[string]any)["Variables"].(map[string]any)
			for k, v := range vars {
				if fn.Environment[k], err = r.str(v); err != nil {
					return nil, fmt.Errorf("function %s variable %s: %w", name, k, err)
				}
			}
			roleID := p["Role"].(map[string]any)["Fn::GetAtt"].([]any)[0].(string)
			if fn.Role, err = r.role(roleID); err != nil {
				return nil, err
			}
			c.Functions[name] = fn
		case "AWS::IAM::Role":
			if name := tagValue(p, deploy.TagRole); name != "" {
				role, err := r.role(id)
				if err != nil {
					return nil, err
				}
				c.Roles[name] = role
			}
		case "AWS::SQS::Queue":
			c.DeadLetterQueueArn, _ = r.getAtt(id, "Arn")
		case "AWS::StepFunctions::StateMachine":
			subs, err := r.resolve(p["DefinitionSubstitutions"])
			if err != nil {
				return nil, fmt.Errorf("state machine substitutions: %w", err)
			}
			m := map[string]string{}
			for k, v := range subs.(map[string]any) {
				m[k] = fmt.Sprint(v)
			}
			_, isIngest := m[statemachines.ReconfigureFunctionArn]
			_, isPublish := m[statemachines.PublishFunctionArn]
			_, isSubscribe := m[statemachines.SubscribeFunctionArn]
			_, isItem := m[statemachines.ItemFunctionArn]
			_, isArchive := m[statemachines.ArchivePlanFunctionArn]
			switch {
			case isArchive:
				archive().DefinitionSubstitutions = m
				archive().StateMachineArn, _ = r.getAtt(id, "Arn")
			case isItem:
				arn, _ := r.getAtt(id, "Arn")
				if federate().ItemStateMachines == nil {
					federate().ItemStateMachines = map[string]map[string]string{}
				}
				federate().ItemStateMachines[arn] = m
			case isIngest:
				ingest().DefinitionSubstitutions = m
				ingest().StateMachineArn, _ = r.getAtt(id, "Arn")
			case isPublish:
				federate().PublishSubstitutions = m
				federate().PublishStateMachineArn, _ = r.getAtt(id, "Arn")
			case isSubscribe:
				federate().SubscribeSubstitutions = m
				federate().SubscribeStateMachineArn, _ = r.getAtt(id, "Arn")
			default:
				c.DefinitionSubstitutions = m
			}
		case "AWS::S3::Bucket":
			if nc, ok := p["NotificationConfiguration"].(map[string]any); ok {
				if eb, ok := nc["EventBridgeConfiguration"].(map[string]any); ok && eb["EventBridgeEnabled"] == true {
					if name, err := r.ref(id); err == nil && name == c.Bucket {
						federate().BucketEventBridge = true
					}
				}
			}
		case "AWS::Events::Rule":
			res, err := r.resolve(p)
			if err != nil {
				return nil, fmt.Errorf("event rule %s: %w", id, err)
			}
			m := res.(map[string]any)
			pattern, err := json.Marshal(m["EventPattern"])
			if err != nil {
				return nil, err
			}
			rule := contract.Rule{Name: fmt.Sprint(m["Name"]), Pattern: pattern}
			for _, tg := range asList(m["Targets"]) {
				tm := tg.(map[string]any)
				target := contract.RuleTarget{Arn: fmt.Sprint(tm["Arn"])}
				if v, ok := tm["RoleArn"]; ok {
					target.RoleArn = fmt.Sprint(v)
				}
				if v, ok := tm["InputPath"]; ok {
					target.InputPath = fmt.Sprint(v)
				}
				if it, ok := tm["InputTransformer"].(map[string]any); ok {
					target.InputTransformer = &contract.InputTransformer{InputPathsMap: map[string]string{}, InputTemplate: fmt.Sprint(it["InputTemplate"])}
					for k, v := range it["InputPathsMap"].(map[string]any) {
						target.InputTransformer.InputPathsMap[k] = fmt.Sprint(v)
					}
				}
				rule.Targets = append(rule.Targets, target)
			}
			rules = append(rules, rule)
		case "AWS::Glue::Job":
			var err error
			job := contract.Job{MaxConcurrentRuns: 1}
			if job.Name, err = r.ref(id); err != nil {
				return nil, err
			}
			if job.RoleArn, err = r.str(p["Role"]); err != nil {
				return nil, err
			}
			if ep, ok := p["ExecutionProperty"].(map[string]any); ok {
				job.MaxConcurrentRuns = int(ep["MaxConcurrentRuns"].(float64))
			}
			if args, ok := p["DefaultArguments"].(map[string]any); ok {
				job.DefaultArguments = map[string]string{}
				for k, v := range args {
					if job.DefaultArguments[k], err = r.str(v); err != nil {
						return nil, fmt.Errorf("job argument %s: %w", k, err)
					}
				}
			}
			ingest().Job = job
		case "AWS::Scheduler::Schedule":
			var err error
			sc := contract.Schedule{State: "ENABLED"}
			if sc.Name, err = r.ref(id); err != nil {
				return nil, err
			}
			for _, f := range []struct {
				key string
				to  *string
			}{{"GroupName", &sc.Group}, {"ScheduleExpression", &sc.Expression}, {"ScheduleExpressionTimezone", &sc.TimeZone}, {"State", &sc.State}} {
				if v, ok := p[f.key]; ok {
					if *f.to, err = r.str(v); err != nil {
						return nil, fmt.Errorf("schedule %s %s: %w", sc.Name, f.key, err)
					}
				}
			}
			tg := p["Target"].(map[string]any)
			if sc.TargetArn, err = r.str(tg["Arn"]); err != nil {
				return nil, err
			}
			if sc.RoleArn, err = r.str(tg["RoleArn"]); err != nil {
				return nil, err
			}
			if v, ok := tg["Input"]; ok {
				if sc.Input, err = r.str(v); err != nil {
					return nil, err
				}
			}
			switch {
			case sc.Name == deploy.ArchiveScheduleName:
				archive().Schedule = sc
			case sc.Group == FederateScheduleGroup:
				federate().Schedules = append(federate().Schedules, sc)
			default:
				ingest().Schedules = append(ingest().Schedules, sc)
			}
		case "AWS::LakeFormation::PrincipalPermissions":
			res, err := r.resolve(p)
			if err != nil {
				return nil, fmt.Errorf("lake formation permissions %s: %w", id, err)
			}
			m := res.(map[string]any)
			lp := contract.LakePermission{Principal: fmt.Sprint(m["Principal"].(map[string]any)["DataLakePrincipalIdentifier"])}
			rs := m["Resource"].(map[string]any)
			switch {
			case rs["DataLocation"] != nil:
				lp.Location = fmt.Sprint(rs["DataLocation"].(map[string]any)["ResourceArn"])
			case rs["Table"] != nil:
				tb := rs["Table"].(map[string]any)
				lp.Database, lp.Table = fmt.Sprint(tb["DatabaseName"]), "*"
				if n, ok := tb["Name"]; ok {
					lp.Table = fmt.Sprint(n)
				}
			case rs["Database"] != nil:
				lp.Database = fmt.Sprint(rs["Database"].(map[string]any)["Name"])
			default:
				return nil, fmt.Errorf("lake formation permissions %s: a resource offline does not model: %v", id, rs)
			}
			for _, v := range asList(m["Permissions"]) {
				lp.Permissions = append(lp.Permissions, fmt.Sprint(v))
			}
			for _, v := range asList(m["PermissionsWithGrantOption"]) {
				lp.Grantable = append(lp.Grantable, fmt.Sprint(v))
			}
			// Sorted out once the ingestion's database and location are known.
			lakePermissions = append(lakePermissions, lp)
		case "AWS::LakeFormation::DataLakeSettings":
			res, err := r.resolve(p)
			if err != nil {
				return nil, fmt.Errorf("data lake settings %s: %w", id, err)
			}
			m := res.(map[string]any)
			// Offline models adding administrators only: REPLACE (the default) would
			// drop the account's own.
			if m["MutationType"] != "APPEND" || len(m) != 2 {
				return nil, fmt.Errorf("data lake settings %s: only {Admins, MutationType: APPEND} is modelled offline: %v", id, m)
			}
			for _, a := range asList(m["Admins"]) {
				c.LakeAdmins = append(c.LakeAdmins, fmt.Sprint(a.(map[string]any)["DataLakePrincipalIdentifier"]))
			}
		case "AWS::LakeFormation::Resource":
			loc, err := r.str(p["ResourceArn"])
			if err != nil {
				return nil, err
			}
			// raw/ is the ingestion's; data/ (the snapshots', when the access rules
			// govern them) is only a registered location.
			if strings.HasSuffix(loc, "/"+strings.TrimSuffix(deploy.RawPrefix, "/")) {
				ingest().LakeLocation = loc
			}
			if strings.HasSuffix(loc, "/"+strings.TrimSuffix(deploy.ArchivePrefix, "/")) {
				archive().LakeLocation = loc
			}
			c.RegisteredLocations = append(c.RegisteredLocations, loc)
		case "AWS::IAM::ManagedPolicy":
			// The analyst policy is attached to no role of the stack: the offline
			// `snaplake query --as` evaluates it for the roles of the access rules.
			arn, err := r.ref(id)
			if err != nil {
				return nil, err
			}
			if arn != c.Outputs[analystPolicyOutput] {
				continue
			}
			doc, err := r.resolve(p["PolicyDocument"])
			if err != nil {
				return nil, fmt.Errorf("analyst policy: %w", err)
			}
			b, err := json.Marshal(doc)
			if err != nil {
				return nil, err
			}
			c.AnalystPolicy = &contract.ManagedPolicy{Arn: arn, Policy: b}
		case "AWS::Glue::Database":
			name, err := r.str(p["DatabaseInput"].(map[string]any)["Name"])
			if err != nil {
				return nil, err
			}
			c.GlueDatabases = append(c.GlueDatabases, name)
		case "AWS::Glue::Crawler":
			cr := contract.Crawler{}
			var err error
			if cr.Name, err = r.str(p["Name"]); err != nil {
				return nil, err
			}
			if cr.Database, err = r.str(p["DatabaseName"]); err != nil {
				return nil, err
			}
			if cr.RoleArn, err = r.str(p["Role"]); err != nil {
				return nil, err
			}
			cr.Configuration, _ = p["Configuration"].(string)
			if scp, ok := p["SchemaChangePolicy"].(map[string]any); ok {
				cr.DeleteBehavior, _ = scp["DeleteBehavior"].(string)
				cr.UpdateBehavior, _ = scp["UpdateBehavior"].(string)
			}
			for _, tg := range asList(p["Targets"].(map[string]any)["S3Targets"]) {
				m := tg.(map[string]any)
				path, err := r.str(m["Path"])
				if err != nil {
					return nil, err
				}
				target := contract.Target{Path: path}
				for _, e := range asList(m["Exclusions"]) {
					if e != nil {
						target.Exclusions = append(target.Exclusions, e.(string))
					}
				}
				cr.Targets = append(cr.Targets, target)
			}
			if strings.HasPrefix(cr.Name, deploy.IngestCrawlerName("")) {
				ingest().Crawlers = append(ingest().Crawlers, cr)
				ingest().Database = cr.Database
			} else {
				c.Crawlers = append(c.Crawlers, cr)
			}
		}
	}
	// The Federator's rules are those that start its workflows (the export's rules
	// are built offline from the embedded patterns and the export's settings).
	if c.Federate != nil {
		for _, rule := range rules {
			for _, tg := range rule.Targets {
				if tg.Arn == c.Federate.PublishStateMachineArn || tg.Arn == c.Federate.SubscribeStateMachineArn {
					c.Federate.Rules = append(c.Federate.Rules, rule)
					break
				}
			}
		}
	}
	// The archive's permissions are on its databases and archive/; the ingestion's
	// on its database and its registered location; the others are the nightly
	// snapshot databases'.
	var archiveDatabases []string
	if v := c.Outputs[deploy.OutputArchiveGlueDatabases]; v != "" {
		archiveDatabases = strings.Split(v, ",")
		archive().Databases = archiveDatabases
	}
	for _, lp := range lakePermissions {
		archiveLocation := lp.Location != "" && strings.HasSuffix(lp.Location, "/"+strings.TrimSuffix(deploy.ArchivePrefix, "/"))
		if archiveLocation || (lp.Database != "" && slices.Contains(archiveDatabases, lp.Database)) {
			archive().LakePermissions = append(archive().LakePermissions, lp)
			continue
		}
		ingestLocation := lp.Location != "" && (strings.HasSuffix(lp.Location, "/"+strings.TrimSuffix(deploy.RawPrefix, "/")) || strings.HasSuffix(lp.Location, "/"+strings.TrimSuffix(deploy.IngestCurrentPrefix, "/")))
		if c.Ingest != nil && (ingestLocation || lp.Database == c.Ingest.Database || lp.Database == c.Ingest.Database+deploy.IngestCurrentSuffix) {
			c.Ingest.LakePermissions = append(c.Ingest.LakePermissions, lp)
		} else {
			c.LakePermissions = append(c.LakePermissions, lp)
		}
	}
	if c.Ingest != nil {
		for _, name := range deploy.IngestFunctions {
			if _, ok := c.Functions[name]; !ok {
				return nil, fmt.Errorf("the template has no function tagged %s=%s", deploy.TagFunction, name)
			}
		}
		for _, name := range deploy.IngestServiceRoles {
			if _, ok := c.Roles[name]; !ok {
				return nil, fmt.Errorf("the template has no role tagged %s=%s", deploy.TagRole, name)
			}
		}
		if c.Ingest.StateMachineArn == "" || c.Ingest.Job.Name == "" || len(c.Ingest.Schedules) != 2 || len(c.Ingest.Crawlers) != 2 {
			return nil, fmt.Errorf("the template's ingestion lacks its state machine, job, 2 schedules or 2 crawlers: %+v", c.Ingest)
		}
	}
	if c.Federate != nil {
		for _, name := range deploy.FederateFunctions {
			if _, ok := c.Functions[name]; !ok {
				return nil, fmt.Errorf("the template has no function tagged %s=%s", deploy.TagFunction, name)
			}
		}
		for _, name := range deploy.FederateServiceRoles {
			if _, ok := c.Roles[name]; !ok {
				return nil, fmt.Errorf("the template has no role tagged %s=%s", deploy.TagRole, name)
			}
		}
		c.Federate.WarehouseRoleArn = c.Roles[deploy.RoleFederateWarehouse].Arn
		if c.Federate.PublishStateMachineArn == "" || c.Federate.SubscribeStateMachineArn == "" || len(c.Federate.ItemStateMachines) != 2 || len(c.Federate.Schedules) != 2 || len(c.Federate.Rules) != 2 || !c.Federate.BucketEventBridge {
			return nil, fmt.Errorf("the template's Federator lacks its publish or subscribe state machine, its 2 item state machines, its 2 schedules, its 2 event rules or the lake bucket's EventBridge notifications: %+v", c.Federate)
		}
	}
	if c.Archive != nil {
		for _, name := range deploy.ArchiveFunctions {
			if _, ok := c.Functions[name]; !ok {
				return nil, fmt.Errorf("the template has no function tagged %s=%s", deploy.TagFunction, name)
			}
		}
		for _, name := range deploy.ArchiveServiceRoles {
			if _, ok := c.Roles[name]; !ok {
				return nil, fmt.Errorf("the template has no role tagged %s=%s", deploy.TagRole, name)
			}
		}
		if c.Archive.StateMachineArn == "" || c.Archive.Schedule.Name == "" || len(c.Archive.Databases) == 0 || len(c.Archive.LakePermissions) == 0 {
			return nil, fmt.Errorf("the template's archive lacks its state machine, its schedule, its Glue databases or their Lake Formation permissions: %+v", c.Archive)
		}
	}
	if c.AnalystPolicy == nil {
		return nil, fmt.Errorf("the template has no managed policy named by its %s output", analystPolicyOutput)
	}
	for _, name := range deploy.Functions {
		if _, ok := c.Functions[name]; !ok {
			return nil, fmt.Errorf("the template has no function tagged %s=%s", deploy.TagFunction, name)
		}
	}
	for _, name := range deploy.ServiceRoles {
		if _, ok := c.Roles[name]; !ok {
			return nil, fmt.Errorf("the template has no role tagged %s=%s", deploy.TagRole, name)
		}
	}
	return c, nil
}
