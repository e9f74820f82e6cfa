package main

import (
	"slices"
	"strings"

	"github.com/snaplake/snaplake/internal/deploy"
)

// KeyArchive is the snaplake:archive context section: an object, see ArchiveConfig.
const KeyArchive = "snaplake:archive"

// ArchiveConfig is the "snaplake:archive" context section: retention archiving of
// the configured source databases' tables (config/snaplake.yaml's archive section
// says which tables and how), its functions, workflow, schedule, alarm and Glue
// databases. Without it none of that is deployed.
type ArchiveConfig struct {
	// SecretArn is the Secrets Manager secret with the archiving user's "username"
	// and "password": a MySQL user that may SELECT and DELETE the configured tables
	// and nothing else.
	SecretArn string
	// SecretKMSKeyArn is the customer managed key the secret is encrypted with, if
	// any (checkSecretKMSKey, decryptSecret).
	SecretKMSKeyArn string
	Endpoint        string // host:port of the source
	// SubnetIDs and SecurityGroupIDs, both or none: the functions run in the VPC to
	// reach the source.
	SubnetIDs        []string
	SecurityGroupIDs []string
	Schedule         string // EventBridge Scheduler expression (deploy.DefaultArchiveSchedule)
	TimeZone         string // IANA zone of Schedule (UTC)
	// Databases are the source databases archived, each one of snaplake:databases
	// (whose snapshot Glue database the archive database accompanies); default: all.
	Databases []string
}

// InVPC says whether the source is reached through the configured subnets.
func (c ArchiveConfig) InVPC() bool { return len(c.SubnetIDs) > 0 }

// The fields of snaplake:archive (secretArn, secretKmsKeyArn, endpoint, timeZone,
// subnetIds and securityGroupIds are spelled as snaplake:ingest's).
const (
	fieldArchiveSchedule  = "schedule"
	fieldArchiveDatabases = "databases"
)

var archiveFields = []string{fieldSecretArn, fieldSecretKMSKeyArn, fieldEndpoint, fieldSubnetIDs, fieldSecurityGroupIDs, fieldArchiveSchedule, fieldTimeZone, fieldArchiveDatabases}

// parseArchive reads the snaplake:archive section: nil when it is not set. c holds
// the export's settings already parsed (snaplake:databases). Every problem is a
// *ConfigError naming the field.
func parseArchive(v any, c Config) (*ArchiveConfig, []error) {
	m, objErrs := contextObject(KeyArchive, v, archiveFields)
	if m == nil {
		return nil, objErrs
	}
	r := &sectionReader{key: KeyArchive, m: m, errs: objErrs}
	fail, str, list := r.fail, r.str, r.list
	a := &ArchiveConfig{
		SecretArn: str(fieldSecretArn), SecretKMSKeyArn: str(fieldSecretKMSKeyArn), Endpoint: str(fieldEndpoint),
		SubnetIDs:        list(fieldSubnetIDs, subnetIDRE, "a subnet ID (subnet-0123456789abcdef0)"),
		SecurityGroupIDs: list(fieldSecurityGroupIDs, sgIDRE, "a security group ID (sg-0123456789abcdef0)"),
		Schedule:         str(fieldArchiveSchedule), TimeZone: str(fieldTimeZone),
	}
	switch {
	case a.SecretArn == "":
		fail(fieldSecretArn, "required: the ARN of the Secrets Manager secret with the archiving MySQL user's username and password (a user with SELECT and DELETE on the archived tables only)")
	case !secretArnRE.MatchString(a.SecretArn):
		fail(fieldSecretArn, "%s", notASecretArn(a.SecretArn))
	}
	if problem := checkSecretKMSKey(a.SecretArn, a.SecretKMSKeyArn); problem != "" {
		fail(fieldSecretKMSKeyArn, "%s", problem)
	}
	if a.Endpoint == "" {
		fail(fieldEndpoint, "required: host:port of the source database")
	} else if problem := checkEndpoint(a.Endpoint); problem != "" {
		fail(fieldEndpoint, "%s", problem)
	}
	if (len(a.SubnetIDs) > 0) != (len(a.SecurityGroupIDs) > 0) {
		for _, f := range []string{fieldSubnetIDs, fieldSecurityGroupIDs} {
			if l, _ := stringList(m[f]); len(l) == 0 {
				fail(f, "required with the other VPC field: subnetIds and securityGroupIds go together")
			}
		}
	}
	if a.Schedule == "" {
		a.Schedule = deploy.DefaultArchiveSchedule
	} else if problem := checkScheduleExpression(a.Schedule); problem != "" {
		fail(fieldArchiveSchedule, "%s", problem)
	}
	if a.TimeZone == "" {
		a.TimeZone = "UTC"
	} else if problem := checkScheduleTimeZone(a.TimeZone); problem != "" {
		fail(fieldTimeZone, "%s", problem)
	}
	dbs, err := stringList(m[fieldArchiveDatabases])
	switch {
	case err != nil:
		fail(fieldArchiveDatabases, "%v", err)
	case m[fieldArchiveDatabases] == nil:
		a.Databases = slices.Clone(c.Databases)
	case len(dbs) == 0:
		fail(fieldArchiveDatabases, "is empty: list the source databases to archive, or leave it out to archive from every one of %s", KeyDatabases)
	default:
		for _, db := range dbs {
			// The archive database accompanies the database's snapshot Glue database,
			// which exists only for a database the stack exports.
			if !slices.Contains(c.Databases, db) {
				fail(fieldArchiveDatabases, "%q is not one of %s (%s): the archive's Glue database accompanies the database's snapshot database", db, KeyDatabases, strings.Join(c.Databases, ", "))
			}
		}
		if dup := duplicate(dbs, strings.ToLower); dup != "" {
			fail(fieldArchiveDatabases, "%q is listed twice", dup)
		}
		a.Databases = dbs
	}
	if len(r.errs) > 0 {
		return nil, r.errs
	}
	return a, nil
}
