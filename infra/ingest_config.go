package main

import (
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/snaplake/snaplake/internal/deploy"
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
	// the ingestion needs in the VPC (ingest_network.go).
	VPCSetup *VPCSetup
}

// InVPC says whether the source is reached through the configured subnets.
func (c IngestConfig) InVPC() bool { return len(c.SubnetIDs) > 0 }

// LakeDatabase is the folder of the source's tables under raw/.
func (c IngestConfig) LakeDatabase() string { return deploy.NormalizeName(c.Database) }

// CatalogDatabase is the Glue database of the raw tables.
func (c IngestConfig) CatalogDatabase() string { return deploy.IngestCatalogDatabase(c.Database) }

// CurrentDatabase is the Glue database of the current tables.
func (c IngestConfig) CurrentDatabase() string {
	return deploy.IngestCurrentCatalogDatabase(c.Database)
}

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
	subnetIDRE      = regexp.MustCompile(`^subnet-[0-9a-f]{8,17}$`)
	sgIDRE          = regexp.MustCompile(`^sg-[0-9a-f]{8,17}$`)
	azRE            = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+[a-z]$`)
)

// parseIngest reads the snaplake:ingest section: nil when it is not set. Values from
// cdk.json arrive as a JSON object, from `-c snaplake:ingest=...` as its JSON text.
// Every problem is a *ConfigError naming the field.
func parseIngest(v any, c Config) (*IngestConfig, []error) {
	m, objErrs := contextObject(KeyIngest, v, ingestFields)
	if m == nil {
		return nil, objErrs
	}
	r := &sectionReader{key: KeyIngest, m: m, errs: objErrs}
	fail, str, list := r.fail, r.str, r.list
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
		fail(fieldSecretArn, "%s", notASecretArn(in.SecretArn))
	}
	if problem := checkSecretKMSKey(in.SecretArn, in.SecretKMSKeyArn); problem != "" {
		fail(fieldSecretKMSKeyArn, "%s", problem)
	}
	if in.Endpoint == "" {
		fail(fieldEndpoint, "required: host:port of the source database")
	} else if problem := checkEndpoint(in.Endpoint); problem != "" {
		fail(fieldEndpoint, "%s", problem)
	}
	if in.TimeZone == "" {
		in.TimeZone = "UTC"
	} else if problem := checkScheduleTimeZone(in.TimeZone); problem != "" {
		fail(fieldTimeZone, "%s", problem)
	}
	if in.AvailabilityZone != "" && !azRE.MatchString(in.AvailabilityZone) {
		fail(fieldAvailabilityZone, "%q is not an availability zone name (like eu-central-1a)", in.AvailabilityZone)
	}
	setup, setupErrs := parseVPCSetup(m[fieldVPCSetup])
	r.errs = append(r.errs, setupErrs...)
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
	if len(r.errs) > 0 {
		return nil, r.errs
	}
	return in, nil
}

// idList reads a list of IDs of the form re (what names it): the list, and what
// is wrong with it.
func idList(v any, re *regexp.Regexp, what string) (ids, problems []string) {
	l, err := stringList(v)
	if err != nil {
		return nil, []string{err.Error()}
	}
	for _, id := range l {
		if !re.MatchString(id) {
			problems = append(problems, fmt.Sprintf("%q is not %s", id, what))
		}
	}
	if dup := duplicate(l, strings.ToLower); dup != "" {
		problems = append(problems, fmt.Sprintf("%q is listed twice", dup))
	}
	return l, problems
}

// checkEndpoint says what is wrong with a source's host:port ("" when nothing is).
func checkEndpoint(endpoint string) string {
	host, port, err := net.SplitHostPort(endpoint)
	if err != nil || host == "" {
		return fmt.Sprintf("%q is not host:port", endpoint)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Sprintf("%q: the port %q is not a number from 1 to 65535", endpoint, port)
	}
	return ""
}

// checkScheduleTimeZone says what is wrong with the IANA zone of a schedule ("" when
// nothing is).
func checkScheduleTimeZone(tz string) string {
	if tz == "Local" {
		return fmt.Sprintf("%q depends on the machine: name an IANA zone such as Europe/Berlin", tz)
	}
	if _, err := time.LoadLocation(tz); err != nil {
		return fmt.Sprintf("%q is not an IANA time zone name (like UTC or Europe/Berlin)", tz)
	}
	return ""
}

// notASecretArn is the reason a secret ARN that secretArnRE refuses is refused.
func notASecretArn(arn string) string {
	return fmt.Sprintf("%q is not a complete Secrets Manager secret ARN (arn:aws:secretsmanager:<region>:<account>:secret:<name>-<6 characters>)", arn)
}

// VPCSetup is the optional vpcSetup field of snaplake:ingest: the network the
// ingestion needs in VPC mode, created by the stack instead of by hand.
//
// What runs in the configured subnets, and what it calls:
//   - the reconfigure function: S3 (config, state, raw/), Secrets Manager (the
//     source's secret), Glue (GetCrawler, UpdateCrawler) and EventBridge Scheduler
//     (GetSchedule, UpdateSchedule). Lambda itself delivers its logs, from outside
//     the VPC; KMS is called by S3 and Secrets Manager on its behalf, not by it.
//   - the Glue job, through its NETWORK connection in the first subnet only (one
//     availability zone): S3 (script, plan, raw/, results), Secrets Manager (boto3)
//     and CloudWatch Logs (its driver and executor logs); Glue's runtime reaches the
//     Glue API.
//
// Without a NAT, the subnets then need an S3 gateway endpoint on their route tables
// and interface endpoints for Secrets Manager, Glue, EventBridge Scheduler and
// CloudWatch Logs; Glue needs a security group with a self-referencing rule for all
// TCP ports (its workers talk to each other). With vpcSetup the stack creates all of
// these; without it, they (or a NAT) are the deployer's to provide.
type VPCSetup struct {
	VPCID         string
	RouteTableIDs []string // of the configured subnets: the S3 gateway endpoint's routes
}

// The fields of snaplake:ingest's vpcSetup.
const (
	fieldVPCSetup      = "vpcSetup"
	fieldVPCID         = "vpcId"
	fieldRouteTableIDs = "routeTableIds"
)

var (
	vpcIDRE        = regexp.MustCompile(`^vpc-[0-9a-f]{8,17}$`)
	routeTableIDRE = regexp.MustCompile(`^rtb-[0-9a-f]{8,17}$`)
)

// parseVPCSetup reads the vpcSetup object: nil when it is not set.
func parseVPCSetup(v any) (*VPCSetup, []error) {
	var errs []error
	fail := func(field, format string, args ...any) {
		errs = append(errs, &ConfigError{Key: KeyIngest, Field: fieldVPCSetup + "." + field, Reason: fmt.Sprintf(format, args...)})
	}
	if v == nil {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, []error{&ConfigError{Key: KeyIngest, Field: fieldVPCSetup, Reason: fmt.Sprintf("is %T, want an object with %s and %s", v, fieldVPCID, fieldRouteTableIDs)}}
	}
	for k := range m {
		if k != fieldVPCID && k != fieldRouteTableIDs {
			fail(k, "unknown field (the fields are %s, %s)", fieldVPCID, fieldRouteTableIDs)
		}
	}
	out := &VPCSetup{}
	var err error
	if out.VPCID, err = stringValue(m[fieldVPCID]); err != nil {
		fail(fieldVPCID, "%v", err)
	} else if !vpcIDRE.MatchString(out.VPCID) {
		fail(fieldVPCID, "%q is not a VPC ID (vpc-0123456789abcdef0): the VPC of subnetIds", out.VPCID)
	}
	if out.RouteTableIDs, err = stringList(m[fieldRouteTableIDs]); err != nil {
		fail(fieldRouteTableIDs, "%v", err)
	} else if len(out.RouteTableIDs) == 0 {
		fail(fieldRouteTableIDs, "required: the route tables of subnetIds, which the S3 gateway endpoint adds its route to")
	}
	for _, id := range out.RouteTableIDs {
		if !routeTableIDRE.MatchString(id) {
			fail(fieldRouteTableIDs, "%q is not a route table ID (rtb-0123456789abcdef0)", id)
		}
	}
	if dup := duplicate(out.RouteTableIDs, strings.ToLower); dup != "" {
		fail(fieldRouteTableIDs, "%q is listed twice", dup)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return out, nil
}
