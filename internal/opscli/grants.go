package opscli

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/lakeformation/types"
	"github.com/spf13/cobra"

	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/ingest"
	"github.com/snaplake/snaplake/internal/ingest/grants"
)

const grantsUsage = `Usage: snaplake grants plan --config FILE [--current FILE] [--account ID] [flags]

Prints the Lake Formation grants that make an account match the access rules of the
config's ingest section, as JSON, one grant per line, sorted:
  {"add": [...], "revoke": [...]}
Apply the revokes first, then the adds (a column change is a revoke of the old
columns and an add of the new: Lake Formation does not edit a grant in place).

Each role gets DESCRIBE on the Glue database and SELECT on its tables, on some
columns of a table, or on every table ("*"). On that database the config is the one
source of truth: every other grant is revoked, whoever holds it, IAM_ALLOWED_PRINCIPALS
(which switches Lake Formation off for a database or table) included; other databases
are left alone, and so are the principals of --keep (the data lake administrators,
the stack's crawler and job roles).

A rule's "snapshots:<database>.<table>" (or "snapshots:<database>.*") is a table of the
nightly snapshot of <database>: with --snapshot-databases (the stack's governed snapshot
databases) and --glue-database-prefix, it is granted on <prefix><database> and on its
_latest companion, which are then managed like the ingest database. A table the
catalog does not hold yet cannot be granted: the grants function leaves it pending.

--current is what the account holds: the JSON that
  aws lakeformation list-permissions > current.json
prints, or a JSON list of grants in the form the plan prints them. Without it, every
grant is to add. A table is named in the lake as the ingest planner names it. With
--mysql-dsn (or $SNAPLAKE_MYSQL_DSN) the source's tables are discovered, so a name
that collides with another table's gets the same suffix as in the lake; without it
each name is normalized on its own.
`

// Grants is `snaplake grants plan`: the plan the grants Lambda applies, printed.
func Grants(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return run(ctx, NewGrantsCommand(), args, stdout, stderr)
}

// NewGrantsCommand is `snaplake grants plan`.
func NewGrantsCommand() *cobra.Command {
	return NewGroup("grants", "the Lake Formation grants of the config's access rules", grantsUsage, newGrantsPlanCommand())
}

// grantsPlanOptions are the flags of `snaplake grants plan`.
type grantsPlanOptions struct {
	configPath, currentPath, account, partition, database, keep, dsn string
	snapshots, gluePrefix                                            string
}

func newGrantsPlanCommand() *cobra.Command {
	var o grantsPlanOptions
	c := &cobra.Command{
		Use:   "plan --config FILE [--current FILE] [--account ID]",
		Short: "the Lake Formation grants to add and revoke, as JSON",
		Long:  grantsUsage,
		Args:  NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return o.run(c)
		},
	}
	fs := c.Flags()
	fs.StringVar(&o.configPath, "config", "", "snaplake.yaml with the ingest section (required)")
	fs.StringVar(&o.currentPath, "current", "", "the account's grants: list-permissions JSON or a list of grants")
	fs.StringVar(&o.account, "account", "", "AWS account ID of the roles the config names without an ARN")
	fs.StringVar(&o.partition, "partition", "aws", "AWS partition of those role ARNs")
	fs.StringVar(&o.database, "database", "", "Glue database of the grants (default: the normalized source database)")
	fs.StringVar(&o.keep, "keep", "", "comma-separated principals whose grants are never revoked (data lake admins)")
	fs.StringVar(&o.dsn, "mysql-dsn", "", "the source database, to name tables as the lake does (default $"+MySQLDSNEnv+")")
	fs.StringVar(&o.snapshots, "snapshot-databases", "", "comma-separated Glue databases of the nightly snapshots the rules govern (the grants function's "+deploy.EnvSnapshotDatabases+")")
	fs.StringVar(&o.gluePrefix, "glue-database-prefix", "", "the stack's snaplake:glueDatabasePrefix, which names a source database's snapshot database")
	return c
}

func (o grantsPlanOptions) run(cmd *cobra.Command) error {
	ctx, stdout, stderr := cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr()
	configPath, currentPath, account, partition, database, keep, dsn := o.configPath, o.currentPath, o.account, o.partition, o.database, o.keep, o.dsn
	switch {
	case configPath == "":
		return UsageError(cmd, "missing --config")
	case account != "" && !accountID.MatchString(account):
		return UsageError(cmd, "--account %q is not a 12-digit AWS account ID", account)
	}

	in, err := loadIngest(configPath)
	if err != nil {
		return err
	}
	if account == "" {
		for _, a := range in.Access {
			if r := strings.TrimSpace(a.Role); r != "" && r != grants.IAMAllowedPrincipals && !strings.HasPrefix(r, "arn:") {
				return UsageError(cmd, "role %q is a name: give --account to make it an ARN (or write the ARN in %s)", r, configPath)
			}
		}
	}
	if database == "" {
		database = ingest.CatalogDatabase(in.Source.Database)
	}
	lakeName := ingest.NormalizeName
	if dsn == "" {
		dsn = os.Getenv(MySQLDSNEnv)
	}
	if dsn != "" {
		if lakeName, err = discoveredLakeNames(ctx, dsn, in.Source.Database); err != nil {
			return err
		}
	}
	// The rules govern the snapshot databases given, and their companions, as the
	// grants function does (internal/ingest/run.GrantsApplier).
	dbs := grants.Databases{Ingest: database}
	scope := append([]string{database}, grants.Companions(database, false)...)
	if snaps := deploy.SplitList(o.snapshots); len(snaps) > 0 {
		prefix := o.gluePrefix
		dbs.Snapshot = func(source string) string { return deploy.GlueDatabaseName(prefix, source) }
		for _, s := range snaps {
			scope = append(scope, s)
			scope = append(scope, grants.Companions(s, true)...)
		}
	}
	desired, err := grants.DesiredIn(dbs, in.Access, lakeName, grants.RoleARN(partition, account))
	if err != nil {
		return fmt.Errorf("%s: %w", configPath, err)
	}
	var current []grants.Grant
	if currentPath != "" {
		if current, err = readCurrentGrants(currentPath); err != nil {
			return err
		}
	}
	add, revoke := grants.Diff(desired, current, grants.Scope{
		Databases: scope,
		Keep:      deploy.SplitList(keep),
	})
	out, err := grants.Plan{Add: add, Revoke: revoke}.JSON()
	if err != nil {
		return err
	}
	if _, err := stdout.Write(out); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "grants plan: database %s, %d to add, %d to revoke\n", database, len(add), len(revoke))
	return nil
}

var accountID = regexp.MustCompile(`^[0-9]{12}$`)

// listedPermission is an entry of list-permissions output with the members grants
// reads; LastUpdated is left out, as the AWS CLI's timestamp format is a setting.
type listedPermission struct {
	Principal                  *types.DataLakePrincipal
	Resource                   *types.Resource
	Permissions                []types.Permission
	PermissionsWithGrantOption []types.Permission
}

// readCurrentGrants reads --current: `aws lakeformation list-permissions` output
// ({"PrincipalResourcePermissions": [...]}) or a JSON list of grants.
func readCurrentGrants(path string) ([]grants.Grant, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read the current grants: %w", err)
	}
	data = bytes.TrimSpace(data)
	if len(data) > 0 && data[0] == '[' {
		var gs []grants.Grant
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&gs); err != nil {
			return nil, fmt.Errorf("%s: not a list of grants: %w", path, err)
		}
		for i, g := range gs {
			if g.Principal == "" || g.Database == "" || len(g.Permissions) == 0 {
				return nil, fmt.Errorf("%s: grant %d: principal, database and permissions are required", path, i)
			}
		}
		return gs, nil
	}
	var out struct {
		PrincipalResourcePermissions *[]listedPermission
	}
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("%s: not list-permissions output: %w", path, err)
	}
	if out.PrincipalResourcePermissions == nil {
		return nil, fmt.Errorf("%s: no PrincipalResourcePermissions: not list-permissions output (nor a list of grants)", path)
	}
	listed := make([]types.PrincipalResourcePermissions, len(*out.PrincipalResourcePermissions))
	for i, p := range *out.PrincipalResourcePermissions {
		listed[i] = types.PrincipalResourcePermissions{Principal: p.Principal, Resource: p.Resource,
			Permissions: p.Permissions, PermissionsWithGrantOption: p.PermissionsWithGrantOption}
	}
	gs, err := grants.FromListPermissions(listed)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return gs, nil
}

// discoveredLakeNames names each source table as the lake does: from the whole table
// list, so that colliding names get their suffix. A table the source lacks has no
// lake name, which grants.Desired reports.
func discoveredLakeNames(ctx context.Context, dsn, database string) (func(string) string, error) {
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return nil, fmt.Errorf("--mysql-dsn: %w", err)
	}
	defer db.Close()
	tables, err := ingest.Discover(ctx, db, database)
	if err != nil {
		return nil, err
	}
	var sources []string
	for _, t := range tables {
		sources = append(sources, t.Name)
	}
	names, err := ingest.LakeNames(sources, nil)
	if err != nil {
		return nil, err
	}
	return func(source string) string { return names[source] }, nil
}
