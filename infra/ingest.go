package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"

	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsglue"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslakeformation"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3assets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsscheduler"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/jsii-runtime-go"

	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/ingest"
	"github.com/snaplake/snaplake/internal/ingest/job"
	"github.com/snaplake/snaplake/statemachines"
)

// IngestConfig is the "snaplake:ingest" context section: the config-driven ingestion
// of one source MySQL database into raw/ (functions, Glue job and crawlers, Lake
// Formation, schedules). Without it none of that is deployed.
type IngestConfig struct {
	Database  string // the source MySQL database; config/snaplake.yaml must name it
	SecretArn string // Secrets Manager secret with the source's "username" and "password"
	// SecretKMSKeyArn is the customer managed key the secret is encrypted with, if
	// any: Secrets Manager decrypts it with the caller's kms:Decrypt on that key.
	SecretKMSKeyArn string
	Endpoint        string // host:port of the source
	TimeZone        string // IANA zone of the schedules as first deployed (the config's timeZone takes over)
	// VPC access, all three or none: the reconfigure function runs in the subnets,
	// and the Glue job reaches the source through a NETWORK connection in the first
	// subnet, which must lie in AvailabilityZone.
	SubnetIDs        []string
	SecurityGroupIDs []string
	AvailabilityZone string
	// GlueVersion is the load job's Glue version; GlueWorkerType and GlueWorkers size
	// it (deploy.IngestFieldGlue*).
	GlueVersion    string
	GlueWorkerType string
	GlueWorkers    int
	// CrawlPoll and CrawlTimeout pace and bound the workflow's wait for its crawl
	// (deploy.IngestFieldCrawl*).
	CrawlPoll, CrawlTimeout time.Duration
	// VPCSetup, with the VPC fields: the stack creates the endpoints and the rule
	// the ingestion needs in the VPC (network.go).
	VPCSetup *VPCSetup
}

// InVPC says whether the source is reached through the configured subnets.
func (c IngestConfig) InVPC() bool { return len(c.SubnetIDs) > 0 }

// LakeDatabase is the folder of the source's tables under raw/.
func (c IngestConfig) LakeDatabase() string { return ingest.NormalizeName(c.Database) }

// CatalogDatabase is the Glue database of the raw tables.
func (c IngestConfig) CatalogDatabase() string { return ingest.CatalogDatabase(c.Database) }

// Location loads TimeZone.
func (c IngestConfig) Location() *time.Location {
	loc, err := time.LoadLocation(c.TimeZone)
	if err != nil {
		panic(fmt.Sprintf("ingest time zone %q: %v (ParseConfig checks it)", c.TimeZone, err))
	}
	return loc
}

// The fields of snaplake:ingest.
const (
	fieldDatabase         = "database"
	fieldSecretArn        = "secretArn"
	fieldSecretKMSKeyArn  = "secretKmsKeyArn"
	fieldEndpoint         = "endpoint"
	fieldTimeZone         = "timeZone"
	fieldSubnetIDs        = "subnetIds"
	fieldSecurityGroupIDs = "securityGroupIds"
	fieldAvailabilityZone = "availabilityZone"
	fieldGlueVersion      = deploy.IngestFieldGlueVersion
	fieldGlueWorkerType   = deploy.IngestFieldGlueWorkerType
	fieldGlueWorkers      = deploy.IngestFieldGlueWorkers
	fieldCrawlPoll        = deploy.IngestFieldCrawlPollSeconds
	fieldCrawlTimeout     = deploy.IngestFieldCrawlTimeoutMinutes
)

var ingestFields = []string{fieldDatabase, fieldSecretArn, fieldSecretKMSKeyArn, fieldEndpoint, fieldTimeZone, fieldSubnetIDs, fieldSecurityGroupIDs, fieldAvailabilityZone,
	fieldGlueVersion, fieldGlueWorkerType, fieldGlueWorkers, fieldCrawlPoll, fieldCrawlTimeout, fieldVPCSetup}

var (
	// Database names that go into the JDBC URL and a folder name unquoted.
	mysqlDatabaseRE = regexp.MustCompile(`^[A-Za-z0-9_$-]{1,64}$`)
	// A complete secret ARN, with the six characters Secrets Manager appends to the
	// name: IAM matches the Resource against the complete ARN.
	secretArnRE = regexp.MustCompile(`^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]+-[A-Za-z0-9]{6}$`)
	// A key ARN, not an alias: IAM authorizes kms:Decrypt against the key's ARN.
	kmsKeyArnRE = regexp.MustCompile(`^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/(mrk-)?[0-9a-f-]{32,36}$`)
	subnetIDRE  = regexp.MustCompile(`^subnet-[0-9a-f]{8,17}$`)
	sgIDRE      = regexp.MustCompile(`^sg-[0-9a-f]{8,17}$`)
	azRE        = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+[a-z]$`)
)

// parseIngest reads the snaplake:ingest section: nil when it is not set. Values from
// cdk.json arrive as a JSON object, from `-c snaplake:ingest=...` as its JSON text.
// Every problem is a *ConfigError naming the field.
func parseIngest(v any, c Config) (*IngestConfig, []error) {
	var errs []error
	fail := func(field, format string, args ...any) {
		errs = append(errs, &ConfigError{Key: KeyIngest, Field: field, Reason: fmt.Sprintf(format, args...)})
	}
	m, objErrs := contextObject(KeyIngest, v, ingestFields)
	if m == nil {
		return nil, objErrs
	}
	errs = append(errs, objErrs...)
	str := func(field string) string {
		s, err := stringValue(m[field])
		if err != nil {
			fail(field, "%v", err)
		}
		return s
	}
	list := func(field string, re *regexp.Regexp, what string) []string {
		l, err := stringList(m[field])
		if err != nil {
			fail(field, "%v", err)
			return nil
		}
		for _, id := range l {
			if !re.MatchString(id) {
				fail(field, "%q is not %s", id, what)
			}
		}
		if dup := duplicate(l, strings.ToLower); dup != "" {
			fail(field, "%q is listed twice", dup)
		}
		return l
	}
	in := &IngestConfig{
		Database: str(fieldDatabase), SecretArn: str(fieldSecretArn), SecretKMSKeyArn: str(fieldSecretKMSKeyArn),
		Endpoint: str(fieldEndpoint), TimeZone: str(fieldTimeZone),
		SubnetIDs:        list(fieldSubnetIDs, subnetIDRE, "a subnet ID (subnet-0123456789abcdef0)"),
		SecurityGroupIDs: list(fieldSecurityGroupIDs, sgIDRE, "a security group ID (sg-0123456789abcdef0)"),
		AvailabilityZone: str(fieldAvailabilityZone),
		GlueVersion:      str(fieldGlueVersion),
		GlueWorkerType:   str(fieldGlueWorkerType),
	}
	switch {
	case in.GlueVersion == "":
		in.GlueVersion = deploy.DefaultIngestGlueVersion
	case !slices.Contains(deploy.IngestGlueVersions, in.GlueVersion):
		fail(fieldGlueVersion, "%q is not a Glue version the load job runs on: use %s", in.GlueVersion, strings.Join(deploy.IngestGlueVersions, " or "))
	}
	switch {
	case in.GlueWorkerType == "":
		in.GlueWorkerType = deploy.DefaultIngestGlueWorkerType
	case !slices.Contains(deploy.IngestGlueWorkerTypes, in.GlueWorkerType):
		fail(fieldGlueWorkerType, "%q is not a worker type of Glue Spark jobs: use %s", in.GlueWorkerType, strings.Join(deploy.IngestGlueWorkerTypes[:3], ", ")+" or "+deploy.IngestGlueWorkerTypes[3])
	}
	workers, err := intValue(m[fieldGlueWorkers], deploy.DefaultIngestGlueWorkers)
	switch {
	case err != nil:
		fail(fieldGlueWorkers, "%v", err)
	case workers < 2 || workers > deploy.MaxGlueWorkersOf(in.GlueWorkerType):
		fail(fieldGlueWorkers, "%d: use from 2 (one worker is the Spark driver) to %d for %s", workers, deploy.MaxGlueWorkersOf(in.GlueWorkerType), in.GlueWorkerType)
	}
	in.GlueWorkers = workers

	poll, err := intValue(m[fieldCrawlPoll], int(deploy.DefaultIngestCrawlPoll/time.Second))
	switch {
	case err != nil:
		fail(fieldCrawlPoll, "%v", err)
	case poll < 1 || time.Duration(poll)*time.Second > deploy.MaxIngestCrawlPoll:
		fail(fieldCrawlPoll, "%d: use from 1 to %d seconds between two looks at the crawl", poll, int(deploy.MaxIngestCrawlPoll/time.Second))
	}
	timeout, err := intValue(m[fieldCrawlTimeout], int(deploy.DefaultIngestCrawlTimeout/time.Minute))
	switch {
	case err != nil:
		fail(fieldCrawlTimeout, "%v", err)
	case timeout < 1 || time.Duration(timeout)*time.Minute > deploy.MaxIngestCrawlTimeout:
		fail(fieldCrawlTimeout, "%d: use from 1 to %d minutes for the crawl", timeout, int(deploy.MaxIngestCrawlTimeout/time.Minute))
	case poll >= 1 && time.Duration(poll)*time.Second > time.Duration(timeout)*time.Minute:
		fail(fieldCrawlTimeout, "%d minutes is shorter than %s (%d seconds): the wait would end before its first look", timeout, fieldCrawlPoll, poll)
	}
	in.CrawlPoll, in.CrawlTimeout = time.Duration(poll)*time.Second, time.Duration(timeout)*time.Minute

	switch {
	case in.Database == "":
		fail(fieldDatabase, "required: the source MySQL database to ingest")
	case !mysqlDatabaseRE.MatchString(in.Database):
		fail(fieldDatabase, "%q is not a database name this stack can ingest (1-64 letters, digits, _, $ or -)", in.Database)
	default:
		for _, db := range c.Databases {
			if c.GlueDatabaseName(db) == in.CatalogDatabase() {
				fail(fieldDatabase, "its Glue database %q is also the export's Glue database of %q (%s): change %s", in.CatalogDatabase(), db, KeyDatabases, KeyGlueDatabasePrefix)
			}
		}
	}
	switch {
	case in.SecretArn == "":
		fail(fieldSecretArn, "required: the ARN of the Secrets Manager secret with the source's username and password")
	case !secretArnRE.MatchString(in.SecretArn):
		fail(fieldSecretArn, "%q is not a complete Secrets Manager secret ARN (arn:aws:secretsmanager:<region>:<account>:secret:<name>-<6 characters>)", in.SecretArn)
	}
	if problem := checkSecretKMSKey(in.SecretArn, in.SecretKMSKeyArn); problem != "" {
		fail(fieldSecretKMSKeyArn, "%s", problem)
	}
	if in.Endpoint == "" {
		fail(fieldEndpoint, "required: host:port of the source database")
	} else if host, port, err := net.SplitHostPort(in.Endpoint); err != nil || host == "" {
		fail(fieldEndpoint, "%q is not host:port", in.Endpoint)
	} else if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		fail(fieldEndpoint, "%q: the port %q is not a number from 1 to 65535", in.Endpoint, port)
	}
	switch in.TimeZone {
	case "":
		in.TimeZone = "UTC"
	case "Local":
		fail(fieldTimeZone, "%q depends on the machine: name an IANA zone such as Europe/Berlin", in.TimeZone)
	default:
		if _, err := time.LoadLocation(in.TimeZone); err != nil {
			fail(fieldTimeZone, "%q is not an IANA time zone name (like UTC or Europe/Berlin)", in.TimeZone)
		}
	}
	if in.AvailabilityZone != "" && !azRE.MatchString(in.AvailabilityZone) {
		fail(fieldAvailabilityZone, "%q is not an availability zone name (like eu-central-1a)", in.AvailabilityZone)
	}
	setup, setupErrs := parseVPCSetup(m[fieldVPCSetup])
	errs = append(errs, setupErrs...)
	in.VPCSetup = setup
	if m[fieldVPCSetup] != nil && len(in.SubnetIDs) == 0 {
		fail(fieldVPCSetup, "needs the VPC fields: subnetIds, securityGroupIds and availabilityZone")
	}
	vpc := map[string]bool{fieldSubnetIDs: len(in.SubnetIDs) > 0, fieldSecurityGroupIDs: len(in.SecurityGroupIDs) > 0, fieldAvailabilityZone: in.AvailabilityZone != ""}
	if vpc[fieldSubnetIDs] || vpc[fieldSecurityGroupIDs] || vpc[fieldAvailabilityZone] {
		for _, f := range []string{fieldSubnetIDs, fieldSecurityGroupIDs, fieldAvailabilityZone} {
			if !vpc[f] {
				fail(f, "required with the other VPC fields: subnetIds, securityGroupIds and availabilityZone go together")
			}
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return in, nil
}

// arnRegion is the region field of an ARN.
func arnRegion(arn string) string {
	if parts := strings.SplitN(arn, ":", 5); len(parts) == 5 {
		return parts[3]
	}
	return ""
}

// checkSecretKMSKey says what is wrong with keyArn as the customer managed key of
// the secret secretArn ("" when nothing is, or when no key is given). The ingest
// source's secret and each Federator warehouse's secret take one.
func checkSecretKMSKey(secretArn, keyArn string) string {
	switch {
	case keyArn == "":
	case !kmsKeyArnRE.MatchString(keyArn):
		return fmt.Sprintf("%q is not a KMS key ARN (arn:aws:kms:<region>:<account>:key/<key id>; not an alias)", keyArn)
	case secretArn == "":
		return "a key without a secretArn: the key is the one the secret is encrypted with"
	case secretArnRE.MatchString(secretArn) && arnRegion(keyArn) != arnRegion(secretArn):
		// Secrets Manager encrypts a secret with a key of its own region.
		return fmt.Sprintf("%q is not in the same region as the secret (%s)", keyArn, arnRegion(secretArn))
	}
	return ""
}

// decryptSecret lets a role decrypt the secret secretArn encrypted with the customer
// managed key keyArn: Secrets Manager calls kms:Decrypt with the caller's
// permissions. The permission holds only through Secrets Manager (in the secret's
// region) and for this secret (Secrets Manager's encryption context names it).
func decryptSecret(secretArn, keyArn string) awsiam.PolicyStatement {
	return awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("kms:Decrypt"),
		Resources: jsii.Strings(keyArn),
		Conditions: &map[string]any{"StringEquals": map[string]any{
			"kms:ViaService":                  "secretsmanager." + arnRegion(secretArn) + ".amazonaws.com",
			"kms:EncryptionContext:SecretARN": secretArn,
		}},
	})
}

// readSourceSecret lets a role read the source's secret and, when it is encrypted
// with a customer managed key, decrypt it (decryptSecret).
func (x *ingestStack) readSourceSecret(add func(awsiam.PolicyStatement)) {
	add(statement([]string{"secretsmanager:GetSecretValue"}, x.in.SecretArn))
	if x.in.SecretKMSKeyArn != "" {
		add(decryptSecret(x.in.SecretArn, x.in.SecretKMSKeyArn))
	}
}

// Names of the ingest resources that are not shared with the functions (those are
// in internal/deploy).
const (
	ingestConnectionName = "snaplake-ingest-network"
	ingestAlarm          = "ingest-executions-failed"
	// The Glue job's log groups: /aws-glue/jobs/... and, encrypted by a security
	// configuration, /aws-glue/jobs-<role>-<security configuration>/ (Glue API,
	// JobRun.LogGroupName).
	glueJobLogGroupPrefix = "/aws-glue/jobs"
	// ingestJobTimeoutMinutes stays below the lease TTL: a run's tables are never
	// taken over while its job can still write them.
	ingestJobTimeoutMinutes = 300
)

// ingestSets are the sets the stack schedules, each with its own crawler and schedule.
var ingestSets = []string{ingest.SetDaily, ingest.SetFrequent}

// ingestAlarmNames are the alarms of the ingestion, for the key policy that lets
// CloudWatch publish to the encrypted topic.
func (s *snaplake) ingestAlarmNames() []string {
	if s.cfg.Ingest == nil {
		return nil
	}
	return []string{ingestAlarm}
}

// ingestStack carries what the parts of the ingestion refer to.
type ingestStack struct {
	*snaplake
	in           IngestConfig
	sec          awsglue.CfnSecurityConfiguration
	db           awsglue.CfnDatabase
	crawlerRole  awsiam.Role
	jobRole      awsiam.Role
	schedRole    awsiam.Role
	job          awsglue.CfnJob
	machine      awsstepfunctions.StateMachine
	location     awslakeformation.CfnResource
	locationRole awsiam.Role
}

// addIngest deploys the config-driven ingestion of s.cfg.Ingest.
func (s *snaplake) addIngest() {
	if s.cfg.Ingest == nil {
		return
	}
	x := &ingestStack{snaplake: s, in: *s.cfg.Ingest}
	x.addCatalog()
	x.addServiceRoles()
	x.addFunctions()
	x.addJob()
	x.addNetwork()
	x.addCrawlers()
	x.addLakeFormation()
	x.addStateMachine()
	x.addSchedules()
	x.addAlarm()

	out := func(id, value, desc string) {
		awscdk.NewCfnOutput(s.stack, jsii.String(id), &awscdk.CfnOutputProps{Value: jsii.String(value), Description: jsii.String(desc)})
	}
	out(deploy.OutputIngestStateMachineArn, *x.machine.StateMachineArn(), "The config-driven ingestion workflow (one run of a set)")
	out(deploy.OutputIngestJobName, *x.job.Ref(), "The Glue job that loads a run's tables into raw/")
	out(deploy.OutputIngestGlueDatabaseName, x.in.CatalogDatabase(), "The Glue database of the ingested tables")
	out(deploy.OutputIngestSecretArn, x.in.SecretArn, "The secret the ingestion reads the source with")
	out(deploy.OutputIngestRoleArns, jsonObject(append(slices.Clone(deploy.IngestFunctions), deploy.IngestServiceRoles...), func(name string) string {
		if fn, ok := s.fns[name]; ok {
			return *fn.Role().RoleArn()
		}
		return *s.roles[name].RoleArn()
	}), "JSON: the role of each ingest function and service, for snaplake doctor")
	out(deploy.OutputIngestFunctionArns, jsonObject(deploy.IngestFunctions, func(name string) string { return *s.fns[name].FunctionArn() }),
		"JSON: each ingest function's ARN, for snaplake doctor")
}

// objects is the ARN of the lake bucket's objects matching pattern.
func (x *ingestStack) objects(pattern string) string {
	return *x.bucket.ArnForObjects(jsii.String(pattern))
}

// listMatching allows ListBucket on the lake bucket for the s3:prefix patterns only.
func (x *ingestStack) listMatching(patterns ...string) awsiam.PolicyStatement {
	return awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:    jsii.Strings("s3:ListBucket"),
		Resources:  jsii.Strings(*x.bucket.BucketArn()),
		Conditions: &map[string]any{"StringLike": map[string]any{"s3:prefix": patterns}},
	})
}

// catalogArns are the Glue catalog, the raw database and its tables.
func (x *ingestStack) catalogArns() []string {
	name := x.in.CatalogDatabase()
	return []string{x.arn("glue", "catalog"), x.arn("glue", "database/"+name), x.arn("glue", "table/"+name+"/*")}
}

func (x *ingestStack) crawlerArns() []string {
	var out []string
	for _, set := range ingestSets {
		out = append(out, x.arn("glue", "crawler/"+deploy.IngestCrawlerName(set)))
	}
	return out
}

func (x *ingestStack) scheduleArns() []string {
	var out []string
	for _, set := range ingestSets {
		out = append(out, x.arn("scheduler", "schedule/"+deploy.IngestScheduleGroup+"/"+deploy.IngestScheduleName(set)))
	}
	return out
}

// passRole allows passing role to service only.
func passRole(role awsiam.IRole, service string) awsiam.PolicyStatement {
	return awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:    jsii.Strings("iam:PassRole"),
		Resources:  jsii.Strings(*role.RoleArn()),
		Conditions: &map[string]any{"StringEquals": map[string]any{"iam:PassedToService": service}},
	})
}

// lakeObjectsFinding matches the IAM5 finding for the lake bucket's objects anywhere
// below one of the prefixes.
func lakeObjectsFinding(prefixes ...string) string {
	alts := make([]string, len(prefixes))
	for i, p := range prefixes {
		alts[i] = jsRegexpQuote(strings.TrimSuffix(p, "/"))
	}
	return `regex:/^Resource::<Lake[A-Za-z0-9]+\.Arn>\/(` + strings.Join(alts, "|") + `)\/.*$/g`
}

// Patterns of IAM5 findings on the ingest resources.
var (
	findingLakeObjects  = lakeObjectsFinding(deploy.RawPrefix, deploy.IngestStatePrefix, deploy.IngestSetsPrefix, deploy.IngestRunsPrefix)
	findingRawTables    = arnFinding("glue", `table\/raw_[a-z0-9_]+\/\*`)
	findingGlueJobLogs  = arnFinding("logs", `log-group:\/aws-glue\/jobs\*(:log-stream:\*)?`)
	findingCrawlerLogs  = arnFinding("logs", `log-group:\/aws-glue\/crawlers-role\/\*(:log-stream:\*)?`)
	findingENIs         = arnFinding("ec2", `network-interface\/\*`)
	findingStarResource = "Resource::*"
)

// addCatalog creates the security configuration of the job and crawlers and the raw
// database, which Lake Formation governs: its new tables grant nothing to
// IAM_ALLOWED_PRINCIPALS.
func (x *ingestStack) addCatalog() {
	keyArn := x.key.KeyArn()
	x.sec = awsglue.NewCfnSecurityConfiguration(x.stack, jsii.String("IngestGlueSecurity"), &awsglue.CfnSecurityConfigurationProps{
		Name: jsii.String(x.name + "-snaplake-ingest"),
		EncryptionConfiguration: &awsglue.CfnSecurityConfiguration_EncryptionConfigurationProperty{
			CloudWatchEncryption:   &awsglue.CfnSecurityConfiguration_CloudWatchEncryptionProperty{CloudWatchEncryptionMode: jsii.String("SSE-KMS"), KmsKeyArn: keyArn},
			JobBookmarksEncryption: &awsglue.CfnSecurityConfiguration_JobBookmarksEncryptionProperty{JobBookmarksEncryptionMode: jsii.String("CSE-KMS"), KmsKeyArn: keyArn},
			S3Encryptions: []*awsglue.CfnSecurityConfiguration_S3EncryptionProperty{
				{S3EncryptionMode: jsii.String("SSE-KMS"), KmsKeyArn: keyArn},
			},
		},
	})
	// CloudWatch Logs encrypts the job's log groups with the key; the stack's key
	// policy names its other log groups, this statement the Glue job's.
	x.key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("CloudWatchLogsForTheIngestGlueJob"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("logs."+*x.stack.Region()+".amazonaws.com"), nil)},
		Actions:    jsii.Strings("kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"),
		Resources:  jsii.Strings("*"),
		Conditions: &map[string]any{"ArnLike": map[string]any{"kms:EncryptionContext:aws:logs:arn": x.arn("logs", "log-group:"+glueJobLogGroupPrefix+"*")}},
	}), nil)

	x.db = awsglue.NewCfnDatabase(x.stack, jsii.String("IngestGlueDatabase"), &awsglue.CfnDatabaseProps{
		CatalogId: x.stack.Account(),
		DatabaseInput: &awsglue.CfnDatabase_DatabaseInputProperty{
			Name:        jsii.String(x.in.CatalogDatabase()),
			Description: jsii.String("snaplake: tables of MySQL database " + x.in.Database + " loaded by the config-driven ingestion (raw/" + x.in.LakeDatabase() + "/)"),
			// Lake Formation, not IAM_ALLOWED_PRINCIPALS, decides who reads these tables.
			CreateTableDefaultPermissions: []any{},
		},
	})
}

// addServiceRoles creates the roles Glue and EventBridge Scheduler assume.
func (x *ingestStack) addServiceRoles() {
	keyArn := *x.key.KeyArn()
	// No AWSGlueServiceRole: it grants glue:* and S3 on "*". Each role gets what it
	// uses, scoped.
	x.crawlerRole = x.serviceRole("IngestCrawlerRole", "snaplake ingest crawlers: read raw/ and update the raw tables", "glue.amazonaws.com")
	x.tagRole(x.crawlerRole, deploy.RoleIngestCrawler)
	cr := x.crawlerRole
	cr.AddToPolicy(statement([]string{"s3:GetObject"}, x.objects(deploy.RawPrefix+"*")))
	cr.AddToPolicy(x.listMatching(deploy.RawPrefix + "*"))
	cr.AddToPolicy(statement([]string{"kms:Decrypt"}, keyArn))
	cr.AddToPolicy(statement([]string{
		"glue:GetDatabase", "glue:GetTable", "glue:GetTables", "glue:CreateTable", "glue:UpdateTable", "glue:DeleteTable",
		"glue:GetPartition", "glue:GetPartitions", "glue:BatchGetPartition", "glue:CreatePartition", "glue:BatchCreatePartition",
		"glue:UpdatePartition", "glue:BatchUpdatePartition", "glue:DeletePartition", "glue:BatchDeletePartition",
	}, x.catalogArns()...))
	// Reading its security configuration has no resource type: "*" only.
	cr.AddToPolicy(statement([]string{"glue:GetSecurityConfiguration"}, "*"))
	// Encrypted crawler logs go to /aws-glue/crawlers-role/<role>-<security configuration>.
	cr.AddToPolicy(statement([]string{"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:AssociateKmsKey"},
		x.arn("logs", "log-group:"+glueCrawlerLogGroupPrefix+"*"), x.arn("logs", "log-group:"+glueCrawlerLogGroupPrefix+"*:log-stream:*")))
	x.suppress(cr, wildcards("The ingest crawlers read every file under raw/, update the raw database's tables, and write the log group Glue names after the role and security configuration; glue:GetSecurityConfiguration has no resource type.",
		findingLakeObjects, findingRawTables, findingCrawlerLogs, findingStarResource))

	x.jobRole = x.serviceRole("IngestJobRole", "snaplake ingest Glue job: read the run's plan and the source's secret, write raw/ and the run's results", "glue.amazonaws.com")
	x.tagRole(x.jobRole, deploy.RoleIngestJob)

	x.schedRole = x.serviceRole("IngestSchedulerRole", "snaplake: EventBridge Scheduler starts the ingest workflow", "scheduler.amazonaws.com")
	x.tagRole(x.schedRole, deploy.RoleIngestScheduler)
	// An undeliverable start goes to the stack's dead-letter queue; Scheduler sends
	// it as this role, a producer of a queue encrypted with the key (SQS: "the
	// producer must have the kms:GenerateDataKey and kms:Decrypt permissions").
	x.schedRole.AddToPolicy(statement([]string{"sqs:SendMessage"}, *x.dlq.QueueArn()))
	x.schedRole.AddToPolicy(statement([]string{"kms:Decrypt", "kms:GenerateDataKey"}, keyArn))
}

// addFunctions creates reconfigure, finishingest and applygrants.
func (x *ingestStack) addFunctions() {
	keyArn := *x.key.KeyArn()
	in := x.in
	env := func(extra map[string]string) map[string]string {
		m := map[string]string{
			deploy.EnvBucket:          *x.bucket.BucketName(),
			deploy.EnvKMSKeyID:        keyArn,
			deploy.EnvIngestDatabase:  in.Database,
			deploy.EnvLeaseTTLSeconds: strconv.Itoa(int(deploy.DefaultLeaseTTL / time.Second)),
			deploy.EnvGraceSeconds:    strconv.Itoa(int(deploy.DefaultGrace / time.Second)),
		}
		maps.Copy(m, extra)
		return m
	}
	state := deploy.IngestStatePrefix + "*"
	sets := deploy.IngestSetsPrefix + "*"
	raw := deploy.RawPrefix + "*"

	re := x.newFunction(functionSpec{
		name: deploy.FnReconfigure, id: "Reconfigure",
		description: "Starts an ingest run: reads config/snaplake.yaml, discovers the source tables, plans, takes the leases, points the set's crawler at the run's tables",
		timeout:     awscdk.Duration_Minutes(jsii.Number(5)), memoryMB: 512,
		env: env(map[string]string{deploy.EnvMySQLEndpoint: in.Endpoint, deploy.EnvSecretArn: in.SecretArn,
			// Only reconfigure makes the sets' schedules follow the config.
			deploy.EnvScheduleGroup:       deploy.IngestScheduleGroup,
			deploy.EnvCrawlPollSeconds:    strconv.Itoa(int(in.CrawlPoll / time.Second)),
			deploy.EnvCrawlTimeoutSeconds: strconv.Itoa(int(in.CrawlTimeout / time.Second))}),
	}, nil)
	re.AddToRolePolicy(statement([]string{"s3:GetObject"}, x.objects(deploy.ConfigKey)))
	// The exact config key too: a missing config is told from a denied one by
	// listing it (internal/s3get).
	re.AddToRolePolicy(x.listMatching(deploy.ConfigKey, state, sets, raw))
	re.AddToRolePolicy(statement([]string{"s3:GetObject", "s3:PutObject", "s3:DeleteObject"}, x.objects(state), x.objects(sets)))
	// The plan is the one thing it writes for a run; it never writes raw/, only
	// removes what a dead run left there.
	re.AddToRolePolicy(statement([]string{"s3:PutObject"}, x.objects(deploy.IngestPlanKey("*"))))
	re.AddToRolePolicy(statement([]string{"s3:DeleteObject"}, x.objects(raw)))
	re.AddToRolePolicy(statement([]string{"kms:Decrypt", "kms:GenerateDataKey"}, keyArn))
	x.readSourceSecret(func(st awsiam.PolicyStatement) { re.AddToRolePolicy(st) })
	re.AddToRolePolicy(statement([]string{"glue:GetCrawler", "glue:UpdateCrawler"}, x.crawlerArns()...))
	re.AddToRolePolicy(passRole(x.crawlerRole, "glue.amazonaws.com"))
	// Schedules follow the config's sets and time zone (internal/schedules); an
	// update hands the schedule's role back to Scheduler.
	re.AddToRolePolicy(statement([]string{"scheduler:GetSchedule", "scheduler:UpdateSchedule"}, x.scheduleArns()...))
	re.AddToRolePolicy(passRole(x.schedRole, "scheduler.amazonaws.com"))
	if in.InVPC() {
		x.inVPC(re)
	}
	x.suppress(re.Role(), wildcards("The reconfigure function keeps the tables' state under state/ingest/ and the sets' leases under state/ingest-sets/, writes each run's plan as state/ingest-runs/<run>/plan.json, and removes what dead runs left under raw/.",
		findingLakeObjects))

	fin := x.newFunction(functionSpec{
		name: deploy.FnFinishIngest, id: "FinishIngest",
		description: "Ends an ingest run: commits the watermarks, switches fully reloaded tables to their new generation, removes what failed, reports the run",
		timeout:     awscdk.Duration_Minutes(jsii.Number(10)), memoryMB: 512,
		env: env(nil),
	}, nil)
	runs := deploy.IngestRunsPrefix + "*"
	fin.AddToRolePolicy(x.listMatching(runs, state, sets, raw))
	fin.AddToRolePolicy(statement([]string{"s3:GetObject"}, x.objects(runs)))
	fin.AddToRolePolicy(statement([]string{"s3:GetObject", "s3:PutObject", "s3:DeleteObject"}, x.objects(state)))
	// Releasing the set's lease reads it (is it this run's?) and deletes it.
	fin.AddToRolePolicy(statement([]string{"s3:GetObject", "s3:DeleteObject"}, x.objects(sets)))
	fin.AddToRolePolicy(statement([]string{"s3:DeleteObject"}, x.objects(raw)))
	fin.AddToRolePolicy(statement([]string{"kms:Decrypt", "kms:GenerateDataKey"}, keyArn))
	fin.AddToRolePolicy(statement([]string{"glue:GetTable", "glue:CreateTable", "glue:UpdateTable", "glue:BatchDeletePartition"}, x.catalogArns()...))
	x.suppress(fin.Role(), wildcards("The finish function reads a run's plan and results under state/ingest-runs/, commits the tables' state under state/ingest/, releases the set's lease under state/ingest-sets/, removes failed and replaced loads under raw/ (and the replaced loads' partitions), and writes the raw database's fully reloaded tables.",
		findingLakeObjects, findingRawTables))

	// The grants this stack makes itself (addLakeFormation) are never the config's
	// to revoke. The function's own role is known only once it exists: it is
	// added to the list below.
	keep := []string{*x.crawlerRole.RoleArn(), *x.jobRole.RoleArn(), *re.Role().RoleArn(), *fin.Role().RoleArn()}
	grants := x.newFunction(functionSpec{
		name: deploy.FnApplyGrants, id: "ApplyGrants",
		description: "Brings the Lake Formation grants on the raw tables in line with the config's access rules",
		timeout:     awscdk.Duration_Minutes(jsii.Number(5)), memoryMB: 256,
		env: env(map[string]string{
			// Role names in the config's access rules become ARNs of this account.
			deploy.EnvAccountID: *x.stack.Account(),
			deploy.EnvPartition: *x.stack.Partition(),
		}),
	}, nil)
	keep = append(keep, *grants.Role().RoleArn())
	grants.AddEnvironment(jsii.String(deploy.EnvKeepPrincipals), jsii.String(strings.Join(keep, ",")), nil)
	grants.AddToRolePolicy(statement([]string{"s3:GetObject"}, x.objects(deploy.ConfigKey), x.objects(state)))
	grants.AddToRolePolicy(x.listMatching(deploy.ConfigKey, state))
	grants.AddToRolePolicy(statement([]string{"kms:Decrypt"}, keyArn))
	grants.AddToRolePolicy(statement([]string{"glue:GetDatabase", "glue:GetTable", "glue:GetTables"}, x.catalogArns()...))
	// The IAM Service Authorization Reference lists no resource type for these Lake
	// Formation actions: only "*" authorizes them. What the function may grant or
	// revoke is bounded by Lake Formation itself: it holds grant options on the raw
	// database and its tables only (addLakeFormation), and is no data lake admin.
	// GetDataLakeSettings names the administrators, whose grants it keeps.
	grants.AddToRolePolicy(statement([]string{
		"lakeformation:ListPermissions", "lakeformation:BatchGrantPermissions", "lakeformation:BatchRevokePermissions",
		"lakeformation:GrantPermissions", "lakeformation:RevokePermissions", "lakeformation:GetDataLakeSettings",
	}, "*"))
	x.suppress(grants.Role(), wildcards("The grants function reads the tables' state under state/ingest/ and the raw database's tables; Lake Formation's grant actions have no resource type (only \"*\"), and Lake Formation limits them to the raw database, where the function holds the grant options.",
		findingLakeObjects, findingRawTables))
}

// inVPC runs fn in the configured subnets. The network interface permissions are
// inline rather than AWSLambdaVPCAccessExecutionRole (which CDK would attach for a
// Vpc prop): scoped to the subnets and security groups, and no managed policy the
// offline contract cannot evaluate.
func (x *ingestStack) inVPC(fn awslambda.Function) {
	fn.Node().DefaultChild().(awslambda.CfnFunction).AddPropertyOverride(jsii.String("VpcConfig"), map[string]any{
		"SubnetIds": x.in.SubnetIDs, "SecurityGroupIds": x.in.SecurityGroupIDs,
	})
	eni := x.arn("ec2", "network-interface/*")
	fn.AddToRolePolicy(statement([]string{"ec2:CreateNetworkInterface"}, append(x.networkArns(), eni)...))
	fn.AddToRolePolicy(statement([]string{"ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"}, eni))
	// The Lambda developer guide: DescribeNetworkInterfaces works only on "*"; the
	// IAM reference lists no resource type for it or DescribeSubnets.
	fn.AddToRolePolicy(statement([]string{"ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"}, "*"))
	x.suppress(fn.Role(), wildcards("Lambda creates and deletes the function's network interfaces in the configured subnets; ec2:Describe* have no resource type.",
		findingENIs))
}

// networkArns are the configured subnets and security groups.
func (x *ingestStack) networkArns() []string {
	var out []string
	for _, id := range x.in.SubnetIDs {
		out = append(out, x.arn("ec2", "subnet/"+id))
	}
	for _, id := range x.in.SecurityGroupIDs {
		out = append(out, x.arn("ec2", "security-group/"+id))
	}
	return out
}

// scriptAsset uploads the embedded job script: the deployed script is the one the
// Go tests check against the job's contract. It is written to a directory named by
// its content, so the asset hash (of the content) and path are stable.
func (x *ingestStack) scriptAsset() awss3assets.Asset {
	sum := sha256.Sum256(job.Script)
	dir := filepath.Join(os.TempDir(), "snaplake-ingest-job-"+hex.EncodeToString(sum[:8]))
	path := filepath.Join(dir, job.ScriptName)
	if b, err := os.ReadFile(path); err != nil || string(b) != string(job.Script) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			panic(fmt.Sprintf("ingest job script: %v", err))
		}
		tmp, err := os.CreateTemp(dir, job.ScriptName+".*")
		if err != nil {
			panic(fmt.Sprintf("ingest job script: %v", err))
		}
		if _, err := tmp.Write(job.Script); err != nil {
			panic(fmt.Sprintf("ingest job script: %v", err))
		}
		if err := tmp.Close(); err != nil {
			panic(fmt.Sprintf("ingest job script: %v", err))
		}
		if err := os.Rename(tmp.Name(), path); err != nil {
			panic(fmt.Sprintf("ingest job script: %v", err))
		}
	}
	return awss3assets.NewAsset(x.stack, jsii.String("IngestJobScript"), &awss3assets.AssetProps{Path: jsii.String(path)})
}

// addJob creates the Glue job and what its role may do.
func (x *ingestStack) addJob() {
	script := x.scriptAsset()
	role := x.jobRole
	keyArn := *x.key.KeyArn()
	role.AddToPolicy(statement([]string{"s3:GetObject"}, "arn:"+*x.stack.Partition()+":s3:::"+*script.S3BucketName()+"/"+*script.S3ObjectKey()))
	// The run's plan; the tables' results (Spark writes them through _temporary/
	// folders it renames and deletes, and overwrites a result of a retried run).
	role.AddToPolicy(statement([]string{"s3:GetObject"}, x.objects(deploy.IngestPlanKey("*"))))
	role.AddToPolicy(statement([]string{"s3:GetObject", "s3:PutObject", "s3:DeleteObject"}, x.objects(deploy.IngestResultsPrefix("*")+"*")))
	// The loads: Parquet written (multipart), read back to count the rows, and
	// Spark's temporary files deleted. Never state/ingest/: the watermarks are the
	// finish function's to commit.
	role.AddToPolicy(statement([]string{"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"}, x.objects(deploy.RawPrefix+"*")))
	role.AddToPolicy(x.listMatching(deploy.RawPrefix+"*", deploy.IngestRunsPrefix+"*"))
	role.AddToPolicy(statement([]string{"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"}, keyArn))
	x.readSourceSecret(func(st awsiam.PolicyStatement) { role.AddToPolicy(st) })
	role.AddToPolicy(statement([]string{"glue:GetSecurityConfiguration"}, "*"))
	role.AddToPolicy(statement([]string{"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:AssociateKmsKey"},
		x.arn("logs", "log-group:"+glueJobLogGroupPrefix+"*"), x.arn("logs", "log-group:"+glueJobLogGroupPrefix+"*:log-stream:*")))
	reasons := "The ingest job reads its run's plan, writes the tables' results under state/ingest-runs/<run>/results/ and the loads under raw/ (Spark renames and deletes temporary files there), and writes the log groups Glue names after the role and security configuration; glue:GetSecurityConfiguration has no resource type."
	findings := []string{findingLakeObjects, findingGlueJobLogs, findingStarResource}

	var connections any
	if x.in.InVPC() {
		conn := awsglue.NewCfnConnection(x.stack, jsii.String("IngestNetworkConnection"), &awsglue.CfnConnectionProps{
			CatalogId: x.stack.Account(),
			ConnectionInput: &awsglue.CfnConnection_ConnectionInputProperty{
				Name:           jsii.String(ingestConnectionName),
				Description:    jsii.String("snaplake ingest: the job's network path to the source database"),
				ConnectionType: jsii.String("NETWORK"),
				PhysicalConnectionRequirements: &awsglue.CfnConnection_PhysicalConnectionRequirementsProperty{
					SubnetId:            jsii.String(x.in.SubnetIDs[0]),
					SecurityGroupIdList: jsii.Strings(x.in.SecurityGroupIDs...),
					AvailabilityZone:    jsii.String(x.in.AvailabilityZone),
				},
			},
		})
		// The zone is the configured subnet's, not a guess.
		awscdk.Annotations_Of(conn).AcknowledgeWarning(jsii.String("CloudFormation-Validate::W3010"), jsii.String("a NETWORK connection names its subnet's availability zone"))
		connections = &awsglue.CfnJob_ConnectionsListProperty{Connections: jsii.Strings(*conn.Ref())}
		// Glue reads the connection and creates the job's network interfaces in the
		// subnet as the job's role (tagging them aws-glue-service-resource).
		role.AddToPolicy(statement([]string{"glue:GetConnection"}, x.arn("glue", "catalog"), x.arn("glue", "connection/"+ingestConnectionName)))
		eni := x.arn("ec2", "network-interface/*")
		role.AddToPolicy(statement([]string{"ec2:CreateNetworkInterface"}, append(x.networkArns(), eni)...))
		role.AddToPolicy(statement([]string{"ec2:DeleteNetworkInterface"}, eni))
		role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions:    jsii.Strings("ec2:CreateTags", "ec2:DeleteTags"),
			Resources:  jsii.Strings(eni),
			Conditions: &map[string]any{"ForAllValues:StringEquals": map[string]any{"aws:TagKeys": []string{"aws-glue-service-resource"}}},
		}))
		role.AddToPolicy(statement([]string{
			"ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups",
			"ec2:DescribeVpcEndpoints", "ec2:DescribeRouteTables", "ec2:DescribeVpcAttribute",
		}, "*"))
		reasons += " Glue creates and deletes the job's network interfaces in the configured subnet; ec2:Describe* have no resource type."
		findings = append(findings, findingENIs)
	}
	x.suppress(role, wildcards(reasons, findings...))

	x.job = awsglue.NewCfnJob(x.stack, jsii.String("IngestJob"), &awsglue.CfnJobProps{
		Name:        jsii.String(deploy.IngestJobName),
		Description: jsii.String("snaplake: loads the tables of one ingest run from MySQL into raw/ (internal/ingest/job)"),
		Role:        x.jobRole.RoleArn(),
		Command: &awsglue.CfnJob_JobCommandProperty{
			Name:           jsii.String("glueetl"),
			PythonVersion:  jsii.String("3"),
			ScriptLocation: script.S3ObjectUrl(),
		},
		GlueVersion:     jsii.String(x.in.GlueVersion),
		WorkerType:      jsii.String(x.in.GlueWorkerType),
		NumberOfWorkers: jsii.Number(x.in.GlueWorkers),
		// A daily and a frequent run may load at once (never the same table: leases).
		ExecutionProperty: &awsglue.CfnJob_ExecutionPropertyProperty{MaxConcurrentRuns: jsii.Number(2)},
		// A retry would find the first attempt's files (the loads are written with
		// errorifexists): the finish function cleans up, and the next run reloads.
		MaxRetries: jsii.Number(0),
		Timeout:    jsii.Number(ingestJobTimeoutMinutes),
		DefaultArguments: map[string]any{
			"--job-language":        "python",
			"--job-bookmark-option": "job-bookmark-disable",
		},
		SecurityConfiguration: x.sec.Ref(),
		Connections:           connections,
	})
}

// addCrawlers creates one crawler per set, on the raw database.
func (x *ingestStack) addCrawlers() {
	for _, set := range ingestSets {
		awsglue.NewCfnCrawler(x.stack, jsii.String("IngestCrawler-"+set), &awsglue.CfnCrawlerProps{
			Name:         jsii.String(deploy.IngestCrawlerName(set)),
			Description:  jsii.String("Catalogs the incremental tables a " + set + " ingest run loaded: one table per include path, partitioned by load; each run sets the include paths"),
			Role:         x.crawlerRole.RoleArn(),
			DatabaseName: x.db.Ref(),
			Targets: &awsglue.CfnCrawler_TargetsProperty{
				// Until a run sets one include path per table folder, a run by hand
				// crawls nothing (the whole folder would become one table).
				S3Targets: []*awsglue.CfnCrawler_S3TargetProperty{{
					Path:       jsii.String("s3://" + *x.bucket.BucketName() + "/" + deploy.RawPrefix + x.in.LakeDatabase() + "/"),
					Exclusions: jsii.Strings("**"),
				}},
			},
			// LOG: an ingest crawler deletes nothing. Each run points it at exactly its
			// own incremental tables, and AWS does not document whether a table whose
			// include path a run left out (leased by the other set's run, or in the
			// other set) counts as deleted; with LOG it is kept either way. Nothing
			// else needs the crawler to delete: the finish deletes the loads a load
			// from the beginning replaces, with their partitions, and switches fully
			// reloaded tables itself.
			SchemaChangePolicy: &awsglue.CfnCrawler_SchemaChangePolicyProperty{
				UpdateBehavior: jsii.String("UPDATE_IN_DATABASE"),
				DeleteBehavior: jsii.String("LOG"),
			},
			RecrawlPolicy:                &awsglue.CfnCrawler_RecrawlPolicyProperty{RecrawlBehavior: jsii.String("CRAWL_EVERYTHING")},
			Configuration:                jsii.String(CrawlerConfiguration),
			CrawlerSecurityConfiguration: x.sec.Ref(),
		})
	}
}

// addLakeFormation registers raw/ and grants the stack's principals what they use
// there, so that the grants function need not be a data lake admin.
func (x *ingestStack) addLakeFormation() {
	account := x.stack.Account()
	rawArn := *x.bucket.BucketArn() + "/" + strings.TrimSuffix(deploy.RawPrefix, "/")
	// Lake Formation assumes this role to vend credentials for reads of raw/ by the
	// principals it grants SELECT. Read only: the stack writes raw/ with IAM.
	x.locationRole = x.serviceRole("IngestLocationRole", "snaplake: Lake Formation reads raw/ for the principals granted its tables", "lakeformation.amazonaws.com")
	x.locationRole.AddToPolicy(statement([]string{"s3:GetObject"}, x.objects(deploy.RawPrefix+"*")))
	x.locationRole.AddToPolicy(x.listMatching(deploy.RawPrefix + "*"))
	x.locationRole.AddToPolicy(statement([]string{"kms:Decrypt"}, *x.key.KeyArn()))
	x.suppress(x.locationRole, wildcards("Lake Formation reads the files under the registered location raw/.", findingLakeObjects))
	x.location = awslakeformation.NewCfnResource(x.stack, jsii.String("IngestRawLocation"), &awslakeformation.CfnResourceProps{
		ResourceArn:          jsii.String(rawArn),
		RoleArn:              x.locationRole.RoleArn(),
		UseServiceLinkedRole: jsii.Bool(false),
	})
	x.location.Node().AddDependency(x.locationRole)

	dbName := x.in.CatalogDatabase()
	database := &awslakeformation.CfnPrincipalPermissions_ResourceProperty{
		Database: &awslakeformation.CfnPrincipalPermissions_DatabaseResourceProperty{CatalogId: account, Name: jsii.String(dbName)},
	}
	tables := &awslakeformation.CfnPrincipalPermissions_ResourceProperty{
		Table: &awslakeformation.CfnPrincipalPermissions_TableResourceProperty{CatalogId: account, DatabaseName: jsii.String(dbName), TableWildcard: map[string]any{}},
	}
	location := &awslakeformation.CfnPrincipalPermissions_ResourceProperty{
		DataLocation: &awslakeformation.CfnPrincipalPermissions_DataLocationResourceProperty{CatalogId: account, ResourceArn: jsii.String(rawArn)},
	}
	grant := func(id string, role awsiam.IRole, resource *awslakeformation.CfnPrincipalPermissions_ResourceProperty, perms, grantable []string) {
		p := awslakeformation.NewCfnPrincipalPermissions(x.stack, jsii.String(id), &awslakeformation.CfnPrincipalPermissionsProps{
			Catalog:                    account,
			Principal:                  &awslakeformation.CfnPrincipalPermissions_DataLakePrincipalProperty{DataLakePrincipalIdentifier: role.RoleArn()},
			Resource:                   resource,
			Permissions:                jsii.Strings(perms...),
			PermissionsWithGrantOption: jsii.Strings(grantable...),
		})
		p.AddResourceDependency(x.db, jsii.String("the grant is on the raw database"))
		if resource.DataLocation != nil {
			p.AddResourceDependency(x.location, jsii.String("the data location must be registered first"))
		}
	}
	all := []string{"ALL"}
	// The grants function: grant and revoke on the raw database and its tables, and
	// nowhere else.
	applyRole := x.fns[deploy.FnApplyGrants].Role()
	grant("IngestGrantsDatabasePermissions", applyRole, database, all, all)
	grant("IngestGrantsTablesPermissions", applyRole, tables, all, all)
	// The crawler and the finish function create and change the raw tables (the
	// crawler the incremental ones, the finish function the fully reloaded ones);
	// a table pointing into the registered raw/ needs the data location permission.
	// A list, not a map: the grants are chained in the order they are created
	// (serializeLakeGrants), and a map's order would change the chain on every synth.
	for _, p := range []struct {
		id   string
		role awsiam.IRole
	}{{"IngestCrawler", x.crawlerRole}, {"IngestFinish", x.fns[deploy.FnFinishIngest].Role()}} {
		id, role := p.id, p.role
		grant(id+"DatabasePermissions", role, database, []string{"CREATE_TABLE", "ALTER", "DESCRIBE"}, nil)
		grant(id+"TablesPermissions", role, tables, all, nil)
		grant(id+"LocationPermissions", role, location, []string{"DATA_LOCATION_ACCESS"}, nil)
	}
}

// ingestSubstitutions returns the values of the ingest workflow's placeholders.
func (x *ingestStack) ingestSubstitutions() map[string]*string {
	return map[string]*string{
		statemachines.ReconfigureFunctionArn:  x.fns[deploy.FnReconfigure].FunctionArn(),
		statemachines.FinishIngestFunctionArn: x.fns[deploy.FnFinishIngest].FunctionArn(),
		statemachines.ApplyGrantsFunctionArn:  x.fns[deploy.FnApplyGrants].FunctionArn(),
		statemachines.IngestJobName:           x.job.Ref(),
		statemachines.NotificationTopicArn:    x.topic.TopicArn(),
	}
}

func (x *ingestStack) addStateMachine() {
	subs := x.ingestSubstitutions()
	role := x.serviceRole("IngestStateMachineRole", "snaplake ingest workflow", "states.amazonaws.com")
	x.tagRole(role, deploy.RoleIngestMachine)
	var fnArns []string
	for _, name := range deploy.IngestFunctions {
		arn := *x.fns[name].FunctionArn()
		fnArns = append(fnArns, arn, arn+":*")
	}
	role.AddToPolicy(statement([]string{"lambda:InvokeFunction"}, fnArns...))
	// glue:startJobRun.sync starts the run, polls it, and stops it when the
	// execution stops (Step Functions developer guide, "IAM policies for calling
	// AWS Glue"); the job is the one resource.
	role.AddToPolicy(statement([]string{"glue:StartJobRun", "glue:GetJobRun", "glue:GetJobRuns", "glue:BatchStopJobRun"}, x.arn("glue", "job/"+deploy.IngestJobName)))
	// The workflow starts the crawl, then polls the crawler until the crawl ended.
	role.AddToPolicy(statement([]string{"glue:StartCrawler", "glue:GetCrawler"}, x.crawlerArns()...))
	role.AddToPolicy(statement([]string{"sns:Publish"}, *x.topic.TopicArn()))
	role.AddToPolicy(statement([]string{"kms:Decrypt", "kms:GenerateDataKey"}, *x.key.KeyArn()))

	x.machine = x.newStateMachine("IngestStateMachine", "IngestStateMachineLogs", "ingest",
		"snaplake config-driven ingestion: one run of a set, MySQL to raw/, crawled, granted", statemachines.Ingest, subs, role)
	x.suppress(role,
		wildcards("Log delivery (logs:CreateLogDelivery, GetLogDelivery, UpdateLogDelivery, DeleteLogDelivery, ListLogDeliveries, PutResourcePolicy, DescribeResourcePolicies, DescribeLogGroups) and X-Ray (PutTraceSegments, PutTelemetryRecords, GetSamplingRules, GetSamplingTargets) support only Resource \"*\"; CDK adds them for logging level ALL and tracing.",
			findingStarResource),
		wildcards("lambda:InvokeFunction on the qualified ARNs (ARN:*) of the three ingest functions only.",
			`regex:/^Resource::<(Reconfigure|FinishIngest|ApplyGrants)[A-Za-z0-9]+\.Arn>:\*$/g`))
}

// addSchedules starts a run of each set on the set's default schedule in the
// context's time zone; the reconfigure function brings them in line with the
// config's sets afterwards.
func (x *ingestStack) addSchedules() {
	x.schedRole.AddToPolicy(statement([]string{"states:StartExecution"}, *x.machine.StateMachineArn()))
	group := awsscheduler.NewCfnScheduleGroup(x.stack, jsii.String("IngestScheduleGroup"), &awsscheduler.CfnScheduleGroupProps{
		Name: jsii.String(deploy.IngestScheduleGroup),
	})
	loc := x.in.Location()
	for _, set := range ingestSets {
		expr, err := ingest.DefaultSets()[set].ScheduleExpression(loc)
		if err != nil {
			panic(fmt.Sprintf("default ingest set %s: %v", set, err))
		}
		// Scheduler fills in the scheduled time: the run is planned for the time the
		// schedule meant, even when a retry or the service's delay starts it later.
		// (Literally: json.Marshal would escape < and >, and Scheduler would not see the keyword.)
		input := fmt.Sprintf(`{"set":%q,"scheduledTime":"<aws.scheduler.scheduled-time>"}`, set)
		// No KmsKeyArn: the input is a set name and a time, and Scheduler's own key
		// needs no permissions that could fail a start (review F6).
		sched := awsscheduler.NewCfnSchedule(x.stack, jsii.String("IngestSchedule-"+set), &awsscheduler.CfnScheduleProps{
			Name:                       jsii.String(deploy.IngestScheduleName(set)),
			GroupName:                  jsii.String(deploy.IngestScheduleGroup),
			Description:                jsii.String("snaplake: starts a run of the " + set + " ingest set (the reconfigure function keeps the expression in line with config/snaplake.yaml)"),
			ScheduleExpression:         jsii.String(expr),
			ScheduleExpressionTimezone: jsii.String(x.in.TimeZone),
			FlexibleTimeWindow:         &awsscheduler.CfnSchedule_FlexibleTimeWindowProperty{Mode: jsii.String("OFF")},
			State:                      jsii.String("ENABLED"),
			Target: &awsscheduler.CfnSchedule_TargetProperty{
				Arn:     x.machine.StateMachineArn(),
				RoleArn: x.schedRole.RoleArn(),
				Input:   jsii.String(input),
				// A start delivered late finds its set not due (the run is planned at
				// the execution's start): retry briefly, then dead-letter.
				RetryPolicy:      &awsscheduler.CfnSchedule_RetryPolicyProperty{MaximumEventAgeInSeconds: jsii.Number(600), MaximumRetryAttempts: jsii.Number(5)},
				DeadLetterConfig: &awsscheduler.CfnSchedule_DeadLetterConfigProperty{Arn: x.dlq.QueueArn()},
			},
		})
		sched.AddResourceDependency(group, jsii.String("the schedule lives in the group"))
		// The role's policy first: the first start must not find it missing.
		sched.Node().AddDependency(x.schedRole)
	}
}

// addAlarm notifies the topic of executions that failed, timed out or were aborted,
// including failures the workflow cannot catch.
func (x *ingestStack) addAlarm() {
	metric := func(name string) awscloudwatch.Metric {
		return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace:     jsii.String("AWS/States"),
			MetricName:    jsii.String(name),
			DimensionsMap: &map[string]*string{"StateMachineArn": x.machine.StateMachineArn()},
			Statistic:     jsii.String("Sum"),
			Period:        awscdk.Duration_Minutes(jsii.Number(5)),
		})
	}
	alarm := awscloudwatch.NewAlarm(x.stack, jsii.String("IngestExecutionsFailedAlarm"), &awscloudwatch.AlarmProps{
		AlarmName:        jsii.String(x.alarmName(ingestAlarm)),
		AlarmDescription: jsii.String("A snaplake ingest execution failed, timed out or was aborted (this also covers failures the workflow cannot catch, such as States.Runtime). Open the execution in the Step Functions console; the notification of the run says which tables failed."),
		Metric: awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
			Expression: jsii.String("failed + timedout + aborted"),
			UsingMetrics: &map[string]awscloudwatch.IMetric{
				"failed":   metric("ExecutionsFailed"),
				"timedout": metric("ExecutionsTimedOut"),
				"aborted":  metric("ExecutionsAborted"),
			},
			Period: awscdk.Duration_Minutes(jsii.Number(5)),
		}),
		Threshold:          jsii.Number(1),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
		EvaluationPeriods:  jsii.Number(1),
		TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
	})
	alarm.AddAlarmAction(awscloudwatchactions.NewSnsAction(x.topic))
}
