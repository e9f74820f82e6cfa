package main

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsscheduler"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/jsii-runtime-go"

	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/statemachines"
)

// FederateConfig is the "snaplake:federate" context section: the Federator's
// functions, workflows and schedules, and the role the warehouses' UNLOAD and COPY
// assume. Without it none of that is deployed. Which warehouse publishes and which
// subscribe is config/snaplake.yaml's to say, at run time; the context names every
// warehouse the functions may reach, so that their roles can name them.
type FederateConfig struct {
	PublishSchedule   string // EventBridge Scheduler expression of the publish workflow
	SubscribeSchedule string // ... and of the subscribe workflow
	Warehouses        []FederateWarehouse
}

// FederateWarehouse is one Redshift the functions reach through the Data API.
type FederateWarehouse struct {
	Name string // for the reader of the context and the outputs: lower case, digits, '-'
	// Arn is a provisioned cluster's ARN (arn:aws:redshift:<region>:<account>:cluster:<id>)
	// or a Serverless workgroup's (arn:aws:redshift-serverless:<region>:<account>:workgroup/<workgroup id>).
	Arn string
	// SecretArn is the Secrets Manager secret the functions sign in with; empty: they
	// sign in as their own IAM identity (temporary credentials the Data API gets for them).
	SecretArn string
	// DbUser (provisioned clusters only, without SecretArn) is the database user the
	// functions sign in as with temporary credentials (db_user= in the config's URL):
	// they may get credentials for that user only.
	DbUser string
	// SecretKMSKeyArn is the customer managed key SecretArn is encrypted with, if
	// any: the functions may then decrypt the secret with it, through Secrets Manager
	// only (checkSecretKMSKey, decryptSecret, as the ingest source's secret).
	SecretKMSKeyArn string
}

// Serverless says whether the warehouse is a Redshift Serverless workgroup.
func (w FederateWarehouse) Serverless() bool {
	return strings.Contains(w.Arn, ":redshift-serverless:")
}

// DatabasesArn is the dbname resource of every database of a provisioned cluster,
// which redshift:GetClusterCredentialsWithIAM authorizes ("" for a workgroup).
func (w FederateWarehouse) DatabasesArn() string {
	m := clusterArnRE.FindStringSubmatch(w.Arn)
	if m == nil {
		return ""
	}
	return "arn:" + m[1] + ":redshift:" + m[2] + ":" + m[3] + ":dbname:" + m[4] + "/*"
}

// DbUserArn is the dbuser resource redshift:GetClusterCredentials authorizes for
// DbUser ("" without one, or for a workgroup).
func (w FederateWarehouse) DbUserArn() string {
	m := clusterArnRE.FindStringSubmatch(w.Arn)
	if m == nil || w.DbUser == "" {
		return ""
	}
	return "arn:" + m[1] + ":redshift:" + m[2] + ":" + m[3] + ":dbuser:" + m[4] + "/" + w.DbUser
}

// DefaultFederateSchedule is how often each workflow runs unless the context says.
const DefaultFederateSchedule = "rate(15 minutes)"

// The fields of snaplake:federate and of each of its warehouses.
const (
	fieldPublishSchedule   = "publishSchedule"
	fieldSubscribeSchedule = "subscribeSchedule"
	fieldWarehouses        = "warehouses"
	fieldWarehouseName     = "name"
	fieldWarehouseArn      = "arn"
	fieldWarehouseSecret   = "secretArn"
	fieldWarehouseDbUser   = "dbUser"
)

var (
	federateFields  = []string{fieldPublishSchedule, fieldSubscribeSchedule, fieldWarehouses}
	warehouseFields = []string{fieldWarehouseName, fieldWarehouseArn, fieldWarehouseSecret, fieldSecretKMSKeyArn, fieldWarehouseDbUser}
)

var (
	warehouseNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	// IAM matches the Data API's calls against these ARNs: a workgroup's ends in its
	// ID (a UUID), not its name; a cluster's in its identifier.
	workgroupArnRE = regexp.MustCompile(`^arn:(aws[a-z-]*):redshift-serverless:([a-z0-9-]+):([0-9]{12}):workgroup/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	clusterArnRE   = regexp.MustCompile(`^arn:(aws[a-z-]*):redshift:([a-z0-9-]+):([0-9]{12}):cluster:([a-z][a-z0-9-]{0,62})$`)
	// A Redshift user name: lower case letters, digits, _ and $ (at most 127).
	dbUserRE = regexp.MustCompile(`^[a-z_][a-z0-9_$]{0,126}$`)
	rateRE   = regexp.MustCompile(`^rate\(([0-9]+) (minute|minutes|hour|hours|day|days)\)$`)
	cronRE   = regexp.MustCompile(`^cron\((\S+) (\S+) (\S+) (\S+) (\S+) (\S+)\)$`)
)

// checkScheduleExpression checks the shape of a recurring EventBridge Scheduler
// expression: rate(<n> <unit>) or cron(<6 fields>). Scheduler itself checks the
// fields' values when the stack deploys.
func checkScheduleExpression(expr string) string {
	switch {
	case strings.HasPrefix(expr, "at("):
		return fmt.Sprintf("%q runs once: the workflows need a recurring schedule, rate(...) or cron(...)", expr)
	case strings.HasPrefix(expr, "rate("):
		m := rateRE.FindStringSubmatch(expr)
		if m == nil {
			return fmt.Sprintf("%q is not rate(<number> <minutes|hours|days>), as in rate(15 minutes)", expr)
		}
		n, err := strconv.Atoi(m[1])
		if err != nil || n < 1 {
			return fmt.Sprintf("%q: the rate must be a whole number of at least 1", expr)
		}
		if singular := !strings.HasSuffix(m[2], "s"); singular != (n == 1) {
			return fmt.Sprintf("%q: write the unit singular for 1 and plural otherwise, as in rate(1 hour) or rate(2 hours)", expr)
		}
		return ""
	case strings.HasPrefix(expr, "cron("):
		m := cronRE.FindStringSubmatch(expr)
		if m == nil {
			return fmt.Sprintf("%q is not cron(<minutes> <hours> <day-of-month> <month> <day-of-week> <year>), six fields", expr)
		}
		if (m[3] == "?") == (m[5] == "?") {
			return fmt.Sprintf("%q: exactly one of day-of-month and day-of-week must be ?", expr)
		}
		return ""
	}
	return fmt.Sprintf("%q is not a schedule expression: rate(15 minutes) or cron(0/15 * * * ? *)", expr)
}

// parseFederate reads the snaplake:federate section: nil when it is not set. Values
// from cdk.json arrive as a JSON object, from `-c snaplake:federate=...` as its JSON
// text. Every problem is a *ConfigError naming the field.
func parseFederate(v any) (*FederateConfig, []error) {
	var errs []error
	fail := func(field, format string, args ...any) {
		errs = append(errs, &ConfigError{Key: KeyFederate, Field: field, Reason: fmt.Sprintf(format, args...)})
	}
	m, objErrs := contextObject(KeyFederate, v, federateFields)
	if m == nil {
		return nil, objErrs
	}
	errs = append(errs, objErrs...)
	fc := &FederateConfig{}
	for _, s := range []struct {
		field string
		to    *string
	}{{fieldPublishSchedule, &fc.PublishSchedule}, {fieldSubscribeSchedule, &fc.SubscribeSchedule}} {
		expr, err := stringValue(m[s.field])
		switch {
		case err != nil:
			fail(s.field, "%v", err)
		case expr == "":
			*s.to = DefaultFederateSchedule
		default:
			*s.to = expr
			if problem := checkScheduleExpression(expr); problem != "" {
				fail(s.field, "%s", problem)
			}
		}
	}

	var list []any
	switch t := m[fieldWarehouses].(type) {
	case nil:
		fail(fieldWarehouses, "required: every Redshift the Federator reaches, as {\"name\", \"arn\", \"secretArn\"}")
	case []any:
		list = t
		if len(list) == 0 {
			fail(fieldWarehouses, "required: every Redshift the Federator reaches, as {\"name\", \"arn\", \"secretArn\"}")
		}
	default:
		fail(fieldWarehouses, "is %T, want a list of objects with %s", t, strings.Join(warehouseFields, ", "))
	}
	names, arns := map[string]bool{}, map[string]bool{}
	for i, e := range list {
		at := func(field string) string { return fmt.Sprintf("%s[%d].%s", fieldWarehouses, i, field) }
		obj, ok := e.(map[string]any)
		if !ok {
			fail(fmt.Sprintf("%s[%d]", fieldWarehouses, i), "is %T, want an object with %s", e, strings.Join(warehouseFields, ", "))
			continue
		}
		for _, k := range slices.Sorted(maps.Keys(obj)) {
			if !slices.Contains(warehouseFields, k) {
				fail(at(k), "unknown field (the fields are %s)", strings.Join(warehouseFields, ", "))
			}
		}
		str := func(field string) string {
			s, err := stringValue(obj[field])
			if err != nil {
				fail(at(field), "%v", err)
			}
			return s
		}
		w := FederateWarehouse{Name: str(fieldWarehouseName), Arn: str(fieldWarehouseArn), SecretArn: str(fieldWarehouseSecret), SecretKMSKeyArn: str(fieldSecretKMSKeyArn), DbUser: str(fieldWarehouseDbUser)}
		switch {
		case w.Name == "":
			fail(at(fieldWarehouseName), "required: a name for the warehouse (lower case letters, digits and -)")
		case !warehouseNameRE.MatchString(w.Name):
			fail(at(fieldWarehouseName), "%q is not a warehouse name (1-63 lower case letters, digits and -)", w.Name)
		case names[w.Name]:
			fail(at(fieldWarehouseName), "%q is listed twice", w.Name)
		}
		names[w.Name] = true
		switch {
		case w.Arn == "":
			fail(at(fieldWarehouseArn), "required: the ARN of the provisioned cluster or Serverless workgroup")
		case workgroupArnRE.MatchString(w.Arn), clusterArnRE.MatchString(w.Arn):
			if arns[w.Arn] {
				fail(at(fieldWarehouseArn), "%q is listed twice", w.Arn)
			}
		case strings.Contains(w.Arn, ":redshift-serverless:") && strings.Contains(w.Arn, ":namespace/"):
			fail(at(fieldWarehouseArn), "%q is a Serverless namespace: give its workgroup's ARN, on which the Data API runs statements", w.Arn)
		case strings.Contains(w.Arn, ":redshift-serverless:") && strings.Contains(w.Arn, ":workgroup/"):
			fail(at(fieldWarehouseArn), "%q does not end in a workgroup ID: a workgroup's ARN names its ID (a UUID), not its name", w.Arn)
		default:
			fail(at(fieldWarehouseArn), "%q is not the ARN of a Redshift cluster (arn:aws:redshift:<region>:<account>:cluster:<identifier>) or Serverless workgroup (arn:aws:redshift-serverless:<region>:<account>:workgroup/<workgroup id>)", w.Arn)
		}
		arns[w.Arn] = true
		if w.SecretArn != "" && !secretArnRE.MatchString(w.SecretArn) {
			fail(at(fieldWarehouseSecret), "%q is not a complete Secrets Manager secret ARN (arn:aws:secretsmanager:<region>:<account>:secret:<name>-<6 characters>)", w.SecretArn)
		}
		if problem := checkSecretKMSKey(w.SecretArn, w.SecretKMSKeyArn); problem != "" {
			fail(at(fieldSecretKMSKeyArn), "%s", problem)
		}
		switch {
		case w.DbUser == "":
		case w.SecretArn != "":
			fail(at(fieldWarehouseDbUser), "a secret and a database user are two ways to sign in: give one")
		case !clusterArnRE.MatchString(w.Arn):
			fail(at(fieldWarehouseDbUser), "temporary credentials for a database user exist for provisioned clusters only: a workgroup signs in with a secret or as the functions' IAM identity")
		case !dbUserRE.MatchString(w.DbUser):
			fail(at(fieldWarehouseDbUser), "%q is not a database user name (lower case letters, digits, _ and $)", w.DbUser)
		}
		fc.Warehouses = append(fc.Warehouses, w)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return fc, nil
}

// Names of the Federator's resources that are not shared with the functions (those
// are in internal/deploy).
const (
	// FederateScheduleGroup is the Federator's own group: the ingestion's group
	// exists only with snaplake:ingest.
	FederateScheduleGroup = "snaplake-federate"
	federateAlarm         = "federate-executions-failed"
	federateLagAlarm      = "federate-subscriber-lag"
)

// FederateScheduleName is the schedule of one workflow (publish, subscribe).
func FederateScheduleName(workflow string) string { return "snaplake-federate-" + workflow }

// federateAlarmNames are the Federator's alarms, for the key policy that lets
// CloudWatch publish to the encrypted topic.
func (s *snaplake) federateAlarmNames() []string {
	if s.cfg.Federate == nil {
		return nil
	}
	return []string{federateAlarm, federateLagAlarm}
}

// federateStack carries what the parts of the Federator refer to.
type federateStack struct {
	*snaplake
	fc            FederateConfig
	warehouseRole awsiam.Role
	machineRole   awsiam.Role
	schedRole     awsiam.Role
	machines      map[string]awsstepfunctions.StateMachine // by function name: publish, subscribe
}

// addFederate deploys the Federator of s.cfg.Federate.
func (s *snaplake) addFederate() {
	if s.cfg.Federate == nil {
		return
	}
	x := &federateStack{snaplake: s, fc: *s.cfg.Federate, machines: map[string]awsstepfunctions.StateMachine{}}
	x.addWarehouseRole()
	x.addFunctions()
	x.addStateMachines()
	x.addSchedules()
	x.addAlarm()
	x.addLagAlarm()

	out := func(id, value, desc string) {
		awscdk.NewCfnOutput(s.stack, jsii.String(id), &awscdk.CfnOutputProps{Value: jsii.String(value), Description: jsii.String(desc)})
	}
	out(deploy.OutputFederatePublishStateMachineArn, *x.machines[deploy.FnPublish].StateMachineArn(), "The Federator's publish workflow (the transform warehouse's tables to federator/)")
	out(deploy.OutputFederateSubscribeStateMachineArn, *x.machines[deploy.FnSubscribe].StateMachineArn(), "The Federator's subscribe workflow (federator/ into each reporting warehouse)")
	out(deploy.OutputFederateWarehouseRoleArn, *x.warehouseRole.RoleArn(), "Associate this role with every Federator cluster, and with the namespace of every Federator Redshift Serverless workgroup (Serverless roles belong to the namespace): UNLOAD and COPY assume it (federator/ only)")
	out(deploy.OutputFederateRoleArns, jsonObject(append(slices.Clone(deploy.FederateFunctions), deploy.FederateServiceRoles...), func(name string) string {
		if fn, ok := s.fns[name]; ok {
			return *fn.Role().RoleArn()
		}
		return *s.roles[name].RoleArn()
	}), "JSON: the role of each Federator function and service, for snaplake doctor")
	// The database user each function is when it signs in as its IAM identity (no
	// secretArn, no dbUser): what the operator grants to (GRANT ... TO "IAMR:<role>").
	out(deploy.OutputFederateDatabaseUsers, jsonObject(slices.Clone(deploy.FederateFunctions), func(name string) string {
		return deploy.IAMRoleDatabaseUser(*s.fns[name].Role().RoleName())
	}), "JSON: the Redshift database user of each Federator function when it signs in as its IAM identity; grant it the privileges the README lists")
	out(deploy.OutputFederateFunctionArns, jsonObject(deploy.FederateFunctions, func(name string) string { return *s.fns[name].FunctionArn() }),
		"JSON: each Federator function's ARN, for snaplake doctor")
}

// objects is the ARN of the lake bucket's objects matching pattern.
func (x *federateStack) objects(pattern string) string {
	return *x.bucket.ArnForObjects(jsii.String(pattern))
}

// Patterns of IAM5 findings on the Federator's resources.
var (
	findingFederatorObjects = objectsUnder(deploy.FederatePrefix)
	findingClusterDatabases = `regex:/^Resource::arn:aws[a-z-]*:redshift:[a-z0-9-]+:[0-9]{12}:dbname:[a-z][a-z0-9-]*\/\*$/g`
)

// addWarehouseRole creates the role UNLOAD and COPY name (IAM_ROLE): Redshift assumes
// it to write the published versions and to read them into the subscribers.
func (x *federateStack) addWarehouseRole() {
	// Provisioned clusters assume roles as redshift.amazonaws.com; Redshift Serverless
	// needs both principals in the trust policy (Redshift MG, "Granting permissions to
	// Amazon Redshift Serverless").
	x.warehouseRole = x.serviceRole("FederateWarehouseRole", "snaplake Federator: Redshift UNLOADs to and COPYs from federator/ with this role",
		"redshift.amazonaws.com", "redshift-serverless.amazonaws.com")
	x.tagRole(x.warehouseRole, deploy.RoleFederateWarehouse)
	r := x.warehouseRole
	// UNLOAD lists its target prefix (it refuses to overwrite) and writes the files and
	// the manifest; COPY reads the manifest the function wrote and the files it lists.
	r.AddToPolicy(statement([]string{"s3:GetObject", "s3:PutObject"}, x.objects(deploy.FederatePrefix+"*")))
	r.AddToPolicy(x.listMatching(deploy.FederatePrefix + "*"))
	// The lake bucket encrypts with the key: writes need GenerateDataKey, reads and
	// multipart uploads Decrypt.
	r.AddToPolicy(statement([]string{"kms:Decrypt", "kms:GenerateDataKey"}, *x.key.KeyArn()))
	x.suppress(r, wildcards("Redshift writes and reads the published versions under federator/<schema>/<table>/<version>/ (files named by UNLOAD), and nothing else in the lake.",
		findingFederatorObjects))
}

// listMatching allows ListBucket on the lake bucket for the s3:prefix patterns only.
func (x *federateStack) listMatching(patterns ...string) awsiam.PolicyStatement {
	return awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:    jsii.Strings("s3:ListBucket"),
		Resources:  jsii.Strings(*x.bucket.BucketArn()),
		Conditions: &map[string]any{"StringLike": map[string]any{"s3:prefix": patterns}},
	})
}

// warehouseArns are the configured clusters and workgroups.
func (x *federateStack) warehouseArns() []string {
	var out []string
	for _, w := range x.fc.Warehouses {
		out = append(out, w.Arn)
	}
	return out
}

// addFunctions creates publish and subscribe. Both get every configured warehouse:
// config/snaplake.yaml decides at run time which one publishes and which subscribe,
// and a config change must not need a deployment.
func (x *federateStack) addFunctions() {
	keyArn := *x.key.KeyArn()
	env := map[string]string{
		deploy.EnvBucket:           *x.bucket.BucketName(),
		deploy.EnvKMSKeyID:         keyArn,
		deploy.EnvWarehouseRoleArn: *x.warehouseRole.RoleArn(),
		// The bucket is the stack's, so in its Region: UNLOAD and COPY name it
		// (REGION), for warehouses of other Regions.
		deploy.EnvBucketRegion: *awscdk.Aws_REGION(),
	}
	specs := []functionSpec{
		{
			name: deploy.FnPublish, id: "Publish",
			description: "Federator publish: lists the config's tables, publishes one (a metadata query, an UNLOAD when it changed), or sums a run up",
		},
		{
			name: deploy.FnSubscribe, id: "Subscribe",
			description: "Federator subscribe: lists the (subscriber, table) pairs, brings one up to date (COPY and swap when its version is behind), or sums a run up",
		},
	}
	var secrets, workgroups, clusterDatabases, dbUsers []string
	for _, w := range x.fc.Warehouses {
		switch {
		case w.SecretArn != "":
			secrets = append(secrets, w.SecretArn)
		case w.Serverless():
			workgroups = append(workgroups, w.Arn)
		case w.DbUser != "":
			dbUsers = append(dbUsers, w.DbUserArn(), w.DatabasesArn())
		default:
			clusterDatabases = append(clusterDatabases, w.DatabasesArn())
		}
	}
	for _, spec := range specs {
		spec.timeout = awscdk.Duration_Minutes(jsii.Number(15))
		spec.memoryMB = 512
		spec.env = env
		fn := x.newFunction(spec, nil)
		x.grantFunction(fn, secrets, workgroups, clusterDatabases, dbUsers)
	}
}

// grantFunction gives a Federator function the lake's config and federator/, and the
// Data API on the configured warehouses.
func (x *federateStack) grantFunction(fn awslambda.Function, secrets, workgroups, clusterDatabases, dbUsers []string) {
	fn.AddToRolePolicy(statement([]string{"s3:GetObject"}, x.objects(deploy.ConfigKey)))
	// The exact config key too: a missing config is told from a denied one by
	// listing it (internal/aws/s3get). federator/: the versions, their manifests, the
	// subscribers' loads.
	fn.AddToRolePolicy(x.listMatching(deploy.ConfigKey, deploy.FederatePrefix+"*"))
	// Versions and subscriber state are written, read back, and pruned (DeleteObjects
	// authorizes as s3:DeleteObject); the UNLOAD manifest is read, the COPY manifest written.
	fn.AddToRolePolicy(statement([]string{"s3:GetObject", "s3:PutObject", "s3:DeleteObject"}, x.objects(deploy.FederatePrefix+"*")))
	fn.AddToRolePolicy(statement([]string{"kms:Decrypt", "kms:GenerateDataKey"}, *x.key.KeyArn()))
	// The IAM Service Authorization Reference scopes (Batch)ExecuteStatement to the
	// cluster or workgroup; Describe, GetStatementResult and Cancel take no resource
	// type, so "*", limited to the statements this role's own session submitted.
	fn.AddToRolePolicy(statement([]string{"redshift-data:ExecuteStatement", "redshift-data:BatchExecuteStatement"}, x.warehouseArns()...))
	fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:    jsii.Strings("redshift-data:DescribeStatement", "redshift-data:GetStatementResult", "redshift-data:CancelStatement"),
		Resources:  jsii.Strings("*"),
		Conditions: &map[string]any{"StringEquals": map[string]any{"redshift-data:statement-owner-iam-userid": "${aws:userid}"}},
	}))
	// How the Data API signs in (the ExecuteStatement API reference): with a secret,
	// GetSecretValue on it; as the caller's IAM identity, GetCredentials on a
	// workgroup and GetClusterCredentialsWithIAM on a cluster's databases.
	if len(secrets) > 0 {
		fn.AddToRolePolicy(statement([]string{"secretsmanager:GetSecretValue"}, secrets...))
	}
	for _, w := range x.fc.Warehouses {
		if w.SecretArn != "" && w.SecretKMSKeyArn != "" {
			fn.AddToRolePolicy(decryptSecret(w.SecretArn, w.SecretKMSKeyArn))
		}
	}
	if len(workgroups) > 0 {
		fn.AddToRolePolicy(statement([]string{"redshift-serverless:GetCredentials"}, workgroups...))
	}
	reasons := "The Federator functions read and write the published versions and the subscribers' state under federator/; redshift-data DescribeStatement, GetStatementResult and CancelStatement have no resource type (only \"*\"), limited by redshift-data:statement-owner-iam-userid to the function's own statements."
	findings := []string{findingFederatorObjects, findingStarResource}
	if len(clusterDatabases) > 0 {
		// The database is the config's URL's to name: every database of the cluster.
		fn.AddToRolePolicy(statement([]string{"redshift:GetClusterCredentialsWithIAM"}, clusterDatabases...))
		reasons += " redshift:GetClusterCredentialsWithIAM is on every database of each configured cluster signed into as the function's IAM identity: config/snaplake.yaml names the database."
		findings = append(findings, findingClusterDatabases)
	}
	if len(dbUsers) > 0 {
		// db_user= (GetClusterCredentials API reference: the dbuser resource is
		// required; "If the DbName parameter is specified, the IAM policy must allow
		// access to the resource dbname"): the configured user only, on any database
		// of its cluster.
		fn.AddToRolePolicy(statement([]string{"redshift:GetClusterCredentials"}, dbUsers...))
		if len(clusterDatabases) == 0 {
			reasons += " redshift:GetClusterCredentials is for the configured database user only, on every database of its cluster: config/snaplake.yaml names the database."
			findings = append(findings, findingClusterDatabases)
		}
	}
	x.suppress(fn.Role(), wildcards(reasons, findings...))
}

// federateSubstitutions returns the values of a Federator workflow's placeholders.
func (x *federateStack) federateSubstitutions(fnName string) map[string]*string {
	placeholder := map[string]string{deploy.FnPublish: statemachines.PublishFunctionArn, deploy.FnSubscribe: statemachines.SubscribeFunctionArn}[fnName]
	return map[string]*string{
		placeholder:                        x.fns[fnName].FunctionArn(),
		statemachines.NotificationTopicArn: x.topic.TopicArn(),
	}
}

// addStateMachines creates the two workflows, run by one role.
func (x *federateStack) addStateMachines() {
	x.machineRole = x.serviceRole("FederateStateMachineRole", "snaplake Federator workflows (publish, subscribe)", "states.amazonaws.com")
	x.tagRole(x.machineRole, deploy.RoleFederateMachine)
	var fnArns []string
	for _, name := range deploy.FederateFunctions {
		arn := *x.fns[name].FunctionArn()
		fnArns = append(fnArns, arn, arn+":*")
	}
	x.machineRole.AddToPolicy(statement([]string{"lambda:InvokeFunction"}, fnArns...))
	x.machineRole.AddToPolicy(statement([]string{"sns:Publish"}, *x.topic.TopicArn()))
	x.machineRole.AddToPolicy(statement([]string{"kms:Decrypt", "kms:GenerateDataKey"}, *x.key.KeyArn()))

	for _, m := range []struct {
		fn, id, workflow, comment string
		def                       []byte
	}{
		{deploy.FnPublish, "FederatePublishStateMachine", "federate-publish", "snaplake Federator publish: each configured table, unloaded when it changed", statemachines.FederatePublish},
		{deploy.FnSubscribe, "FederateSubscribeStateMachine", "federate-subscribe", "snaplake Federator subscribe: each subscriber and table, loaded when behind", statemachines.FederateSubscribe},
	} {
		x.machines[m.fn] = x.newStateMachine(m.id, m.id+"Logs", m.workflow, m.comment, m.def, x.federateSubstitutions(m.fn), x.machineRole)
	}
	x.suppress(x.machineRole,
		wildcards("Log delivery (logs:CreateLogDelivery, GetLogDelivery, UpdateLogDelivery, DeleteLogDelivery, ListLogDeliveries, PutResourcePolicy, DescribeResourcePolicies, DescribeLogGroups) and X-Ray (PutTraceSegments, PutTelemetryRecords, GetSamplingRules, GetSamplingTargets) support only Resource \"*\"; CDK adds them for logging level ALL and tracing.",
			findingStarResource),
		wildcards("lambda:InvokeFunction on the qualified ARNs (ARN:*) of the publish and subscribe functions only.",
			`regex:/^Resource::<(Publish|Subscribe)[A-Za-z0-9]+\.Arn>:\*$/g`))
}

// addSchedules starts each workflow on its schedule, in a group of the Federator's own.
func (x *federateStack) addSchedules() {
	x.schedRole = x.serviceRole("FederateSchedulerRole", "snaplake: EventBridge Scheduler starts the Federator workflows", "scheduler.amazonaws.com")
	x.tagRole(x.schedRole, deploy.RoleFederateScheduler)
	x.schedRole.AddToPolicy(statement([]string{"states:StartExecution"},
		*x.machines[deploy.FnPublish].StateMachineArn(), *x.machines[deploy.FnSubscribe].StateMachineArn()))
	// An undeliverable start goes to the stack's dead-letter queue, encrypted with the
	// key: Scheduler sends it as this role, the queue's producer.
	x.schedRole.AddToPolicy(statement([]string{"sqs:SendMessage"}, *x.dlq.QueueArn()))
	x.schedRole.AddToPolicy(statement([]string{"kms:Decrypt", "kms:GenerateDataKey"}, *x.key.KeyArn()))

	group := awsscheduler.NewCfnScheduleGroup(x.stack, jsii.String("FederateScheduleGroup"), &awsscheduler.CfnScheduleGroupProps{
		Name: jsii.String(FederateScheduleGroup),
	})
	for _, w := range []struct{ fn, expr string }{
		{deploy.FnPublish, x.fc.PublishSchedule},
		{deploy.FnSubscribe, x.fc.SubscribeSchedule},
	} {
		// No KmsKeyArn: the input is a time, and Scheduler's own key needs no
		// permissions that could fail a start (review F6).
		sched := awsscheduler.NewCfnSchedule(x.stack, jsii.String("FederateSchedule-"+w.fn), &awsscheduler.CfnScheduleProps{
			Name:                       jsii.String(FederateScheduleName(w.fn)),
			GroupName:                  jsii.String(FederateScheduleGroup),
			Description:                jsii.String("snaplake: starts the Federator's " + w.fn + " workflow (context " + KeyFederate + ")"),
			ScheduleExpression:         jsii.String(w.expr),
			ScheduleExpressionTimezone: jsii.String("UTC"),
			FlexibleTimeWindow:         &awsscheduler.CfnSchedule_FlexibleTimeWindowProperty{Mode: jsii.String("OFF")},
			State:                      jsii.String("ENABLED"),
			Target: &awsscheduler.CfnSchedule_TargetProperty{
				Arn:     x.machines[w.fn].StateMachineArn(),
				RoleArn: x.schedRole.RoleArn(),
				// Written literally: json.Marshal would escape < and >, and Scheduler
				// would not see the keyword.
				Input: jsii.String(`{"scheduledTime":"<aws.scheduler.scheduled-time>"}`),
				// Each run does what is due then; a start later than the next run's
				// adds nothing: retry briefly, then dead-letter.
				RetryPolicy:      &awsscheduler.CfnSchedule_RetryPolicyProperty{MaximumEventAgeInSeconds: jsii.Number(600), MaximumRetryAttempts: jsii.Number(5)},
				DeadLetterConfig: &awsscheduler.CfnSchedule_DeadLetterConfigProperty{Arn: x.dlq.QueueArn()},
			},
		})
		sched.AddResourceDependency(group, jsii.String("the schedule lives in the group"))
		// The role's policy first: the first start must not find it missing.
		sched.Node().AddDependency(x.schedRole)
	}
}

// addAlarm notifies the topic of executions of either workflow that failed, timed out
// or were aborted, including failures the workflows cannot catch.
func (x *federateStack) addAlarm() {
	metrics := map[string]awscloudwatch.IMetric{}
	var terms []string
	for _, fn := range deploy.FederateFunctions {
		for _, m := range []struct{ id, name string }{{"failed", "ExecutionsFailed"}, {"timedout", "ExecutionsTimedOut"}, {"aborted", "ExecutionsAborted"}} {
			id := m.id + fn
			metrics[id] = awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
				Namespace:     jsii.String("AWS/States"),
				MetricName:    jsii.String(m.name),
				DimensionsMap: &map[string]*string{"StateMachineArn": x.machines[fn].StateMachineArn()},
				Statistic:     jsii.String("Sum"),
				Period:        awscdk.Duration_Minutes(jsii.Number(5)),
			})
			terms = append(terms, id)
		}
	}
	alarm := awscloudwatch.NewAlarm(x.stack, jsii.String("FederateExecutionsFailedAlarm"), &awscloudwatch.AlarmProps{
		AlarmName:        jsii.String(x.alarmName(federateAlarm)),
		AlarmDescription: jsii.String("A snaplake Federator execution (publish or subscribe) failed, timed out or was aborted (this also covers failures the workflows cannot catch, such as States.Runtime). Open the execution in the Step Functions console; the run's notification names the tables that failed."),
		Metric: awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
			Expression:   jsii.String(strings.Join(terms, " + ")),
			UsingMetrics: &metrics,
			Period:       awscdk.Duration_Minutes(jsii.Number(5)),
		}),
		Threshold:          jsii.Number(1),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
		EvaluationPeriods:  jsii.Number(1),
		TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
	})
	alarm.AddAlarmAction(awscloudwatchactions.NewSnsAction(x.topic))
}

// federateLagQuery is the lag alarm's Metrics Insights query: one time series per
// subscriber, each a contributor the alarm evaluates on its own.
var federateLagQuery = fmt.Sprintf(`SELECT MAX(%s) FROM SCHEMA("%s", %s) GROUP BY %s`,
	deploy.FederateMetricLagOverMaxLag, deploy.FederateMetricsNamespace, deploy.FederateDimensionSubscriber, deploy.FederateDimensionSubscriber)

// addLagAlarm notifies the topic when a subscriber has been behind longer than its
// maxLag. The subscribers and their maxLag are config/snaplake.yaml's, which the stack
// never reads: the subscribe summary writes each subscriber's lag minus its maxLag
// (deploy.FederateMetricLagOverMaxLag), and one multi time series alarm on a Metrics
// Insights query grouped by subscriber fires above 0 for each subscriber separately,
// including subscribers added to the config after the deploy.
func (x *federateStack) addLagAlarm() {
	alarm := awscloudwatch.NewAlarm(x.stack, jsii.String("FederateSubscriberLagAlarm"), &awscloudwatch.AlarmProps{
		AlarmName: jsii.String(x.alarmName(federateLagAlarm)),
		AlarmDescription: jsii.String("A snaplake Federator subscriber has been behind a published version for longer than its maxLag (federate.subscribers[].maxLag in config/snaplake.yaml). " +
			"The alarm's contributor names the subscriber; `snaplake federate status` shows its tables, and the subscribe runs' logs say why it is behind."),
		Metric: awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
			Expression:   jsii.String(federateLagQuery),
			UsingMetrics: &map[string]awscloudwatch.IMetric{},
			// An hour: at least one subscribe run per period on the default schedule
			// (every 15 minutes) and on any hourly one; Metrics Insights alarms read
			// the last three hours only.
			Period: awscdk.Duration_Hours(jsii.Number(1)),
		}),
		Threshold:          jsii.Number(0),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
		EvaluationPeriods:  jsii.Number(1),
		// No point: no subscribe run summed up in the period (a failed or missing run
		// is the executions alarm's), or a subscriber left the config.
		TreatMissingData: awscloudwatch.TreatMissingData_NOT_BREACHING,
	})
	alarm.AddAlarmAction(awscloudwatchactions.NewSnsAction(x.topic))
}
