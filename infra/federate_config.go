package main

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
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
