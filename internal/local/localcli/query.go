package localcli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/snaplake/snaplake/internal/config"
	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/ingest"
	"github.com/snaplake/snaplake/internal/ingest/grants"
	"github.com/snaplake/snaplake/internal/local/contract"
	"github.com/snaplake/snaplake/internal/local/demo"
	"github.com/snaplake/snaplake/internal/local/glue"
	"github.com/snaplake/snaplake/internal/local/lake"
	lflocal "github.com/snaplake/snaplake/internal/local/lakeformation"
	"github.com/snaplake/snaplake/internal/opscli"
)

const queryUsage = `Usage: snaplake query [--home DIR] [--format table|csv|json] [--as ROLE [--config FILE] [--policy FILE]] "SQL"

Runs SQL (DuckDB dialect) over the local lake with Athena's names:
  SELECT count(*) FROM warehouse.file_downloads
  WHERE snapshot_date = (SELECT max(snapshot_date) FROM "warehouse"."file_downloads$partitions")
  SELECT count(*) FROM warehouse_latest.file_downloads   -- the same: the newest night

With --as, the query runs as ROLE (a role name or ARN) under its Lake Formation grants:
those the applygrants function made in the home (snaplake demo ingest), or with --config
those the access rules of FILE (ingest.access) give it, as 'snaplake grants plan' computes them:
it sees only the granted tables of the lake database named after ingest.source.database and,
for rules naming "snapshots:<db>.<table>", of the nightly snapshot databases and their _latest
companions, each with only its granted columns (SELECT * gives those), and their $partitions tables.
A table or column that is not granted is an error naming it, never an empty result.
ROLE also has the analyst policy the stack publishes (the AnalystPolicyArn output),
read from the synthesized template, or with --policy the policy document in FILE (try a
policy before you deploy it). The calls Athena makes for the caller must pass it, and a
refused query fails with Athena's message:
  glue:GetDatabase, glue:GetTable, glue:GetPartitions on the catalog, database and table;
  lakeformation:GetDataAccess for a table under a location registered with Lake Formation
  (raw/, and data/ when the ingestion is deployed: Lake Formation then vends the S3 credentials);
  s3:ListBucket, s3:GetObject and kms:Decrypt for any other table (data/ of a stack without the
  ingestion, where IAM alone governs the snapshots and ROLE sees them as far as IAM allows).
The views are an offline check of the grants and policies, not a security boundary: SQL
that reads files itself (read_parquet) is not limited.
`

// Query answers SQL from the catalog at <home>/catalog.json and the objects the
// local S3 server keeps under <home>/s3.
func Query(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := NewQueryCommand()
	c.CompletionOptions.DisableDefaultCmd = true
	_, err := opscli.Execute(ctx, c, args, stdout, stderr)
	return err
}

// queryOptions are the flags of `snaplake query`.
type queryOptions struct {
	home, format, role, configPath, policyPath string
}

// NewQueryCommand is `snaplake query`.
func NewQueryCommand() *cobra.Command {
	var o queryOptions
	c := &cobra.Command{
		Use:   `query [--home DIR] [--format table|csv|json] [--as ROLE [--config FILE] [--policy FILE]] "SQL"`,
		Short: "SQL over the local lake, with Athena's names",
		Long:  queryUsage,
		Args:  cobra.ArbitraryArgs,
		RunE: func(c *cobra.Command, args []string) error {
			return o.run(c, args)
		},
	}
	fs := c.Flags()
	// As with the flag package: flags come before the SQL, which may hold anything.
	fs.SetInterspersed(false)
	fs.StringVar(&o.home, "home", "", "local lake directory (default $SNAPLAKE_HOME, else "+defaultHomeDir+")")
	fs.StringVar(&o.format, "format", "table", "output format: "+strings.Join(lake.Formats, ", "))
	fs.StringVar(&o.role, "as", "", "run as this IAM role (name or ARN), under its Lake Formation grants")
	fs.StringVar(&o.configPath, "config", "", "snaplake.yaml whose ingest.access rules give --as its grants")
	fs.StringVar(&o.policyPath, "policy", "", "IAM policy document (JSON) --as has, instead of the published analyst policy")
	return c
}

func (o queryOptions) run(c *cobra.Command, args []string) error {
	ctx, stdout := c.Context(), c.OutOrStdout()
	home, format, role, configPath, policyPath := &o.home, &o.format, &o.role, &o.configPath, &o.policyPath
	if !slices.Contains(lake.Formats, *format) {
		return opscli.UsageError(c, "unknown format %q\n", *format)
	}
	sql := strings.TrimSpace(strings.Join(args, " "))
	if sql == "" {
		return opscli.UsageError(c, "no SQL given\n")
	}
	if *role == "" && (*configPath != "" || *policyPath != "") {
		return opscli.UsageError(c, "--config and --policy are only used with --as\n")
	}
	dir := resolveHome(*home)
	var access *lake.Access
	if *role != "" {
		var err error
		if *configPath != "" {
			access, err = roleAccess(*configPath, strings.TrimSpace(*role))
		} else {
			access, err = appliedAccess(dir, strings.TrimSpace(*role))
		}
		if err != nil {
			return err
		}
		if access.IAM, err = analystIdentity(strings.TrimSpace(*role), *policyPath); err != nil {
			return err
		}
	}

	catalogPath := filepath.Join(dir, "catalog.json")
	if _, err := os.Stat(catalogPath); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("no local lake in %s: run `snaplake demo` (or `make demo`) first", dir)
	} else if err != nil {
		return fmt.Errorf("open local lake in %s: %w", dir, err)
	}
	cat, err := glue.OpenCatalog(catalogPath)
	if err != nil {
		return fmt.Errorf("open local lake in %s: %w", dir, err)
	}
	l := &lake.Lake{Catalog: cat, Root: filepath.Join(dir, "s3")}
	var res lake.Result
	if access != nil {
		res, err = l.QueryAs(ctx, sql, access)
	} else {
		res, err = l.Query(ctx, sql)
	}
	if err != nil {
		return err
	}
	return lake.Format(stdout, res, *format)
}

// offlineAccount is the account that role names become ARNs in offline.
const offlineAccount = "000000000000"

// roleAccess computes what role may read from the access rules of the config at path,
// as `snaplake grants plan` computes the grants: on the lake database named after the
// source database, with tables under their lake names. A role matches a rule written
// by name or by ARN.
func roleAccess(path, role string) (*lake.Access, error) {
	if role == "" {
		return nil, errors.New("snaplake query: --as names no role")
	}
	in, err := config.LoadSection[ingest.Config](path, deploy.SectionIngest)
	var none *config.NoSectionError
	if errors.As(err, &none) {
		return nil, fmt.Errorf("%w, so no access rules for role %s", err, role)
	}
	if err != nil {
		return nil, err // names the file, and the line of each problem
	}
	arn := grants.RoleARN("aws", offlineAccount)
	var principals, roles []string
	for _, a := range in.Access {
		r := strings.TrimSpace(a.Role)
		if r == "" {
			continue
		}
		roles = append(roles, r)
		if arn(r) == arn(role) || roleName(r) == roleName(role) {
			if p := arn(r); !slices.Contains(principals, p) {
				principals = append(principals, p)
			}
		}
	}
	switch len(principals) {
	case 0:
		if len(roles) == 0 {
			return nil, fmt.Errorf("role %s has no access rule in %s (ingest.access is empty)", role, path)
		}
		return nil, fmt.Errorf("role %s has no access rule in %s; roles: %s", role, path, strings.Join(slices.Compact(slices.Sorted(slices.Values(roles))), ", "))
	case 1:
	default:
		return nil, fmt.Errorf("role %s matches several roles of %s (%s): give its ARN", role, path, strings.Join(principals, ", "))
	}
	database := ingest.CatalogDatabase(in.Source.Database)
	dbs, governed := governedDatabases(database)
	desired, err := grants.DesiredIn(dbs, in.Access, ingest.NormalizeName, arn)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return lake.AccessIn(role, principals[0], desired, governed...), nil
}

// governedDatabases is where the deployed grants function (the contract's) puts
// the access rules' grants, and every database whose grants are the rules': the
// ingest database, the nightly snapshot databases it governs, and their companions.
func governedDatabases(ingestDB string) (grants.Databases, []string) {
	dbs := grants.Databases{Ingest: ingestDB}
	governed := append([]string{ingestDB}, grants.Companions(ingestDB, false)...)
	c, err := contract.Load()
	if err != nil {
		return dbs, governed
	}
	env := c.Functions[deploy.FnApplyGrants].Environment
	snapshots := deploy.SplitList(env[deploy.EnvSnapshotDatabases])
	if len(snapshots) == 0 {
		return dbs, governed
	}
	prefix := env[deploy.EnvGlueDatabasePrefix]
	dbs.Snapshot = func(source string) string { return deploy.GlueDatabaseName(prefix, source) }
	for _, s := range snapshots {
		governed = append(governed, s)
		governed = append(governed, grants.Companions(s, true)...)
	}
	return dbs, governed
}

// analystIdentity is role with the analyst policy attached, as deployed (the offline
// contract's), or with the policy document at policyPath.
func analystIdentity(role, policyPath string) (*lake.Identity, error) {
	c, err := contract.Load()
	if err != nil {
		return nil, err
	}
	var doc []byte
	if policyPath != "" {
		if doc, err = os.ReadFile(policyPath); err != nil {
			return nil, fmt.Errorf("read --policy: %w", err)
		}
	}
	id, err := lake.AnalystIdentity(c, role, doc)
	if err != nil && policyPath != "" {
		return nil, fmt.Errorf("%s: %w", policyPath, err)
	}
	return id, err
}

// appliedAccess is what role may read under the grants the offline Lake Formation
// holds in the home: the ones `snaplake demo ingest` applied from the config.
func appliedAccess(home, role string) (*lake.Access, error) {
	path := filepath.Join(home, demo.LakeFormationFile)
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("no Lake Formation grants in %s: run `snaplake demo ingest` first, or give --config", home)
	}
	lf, err := lflocal.Open(path)
	if err != nil {
		return nil, err
	}
	gs, err := lf.Grants()
	if err != nil {
		return nil, err
	}
	in, err := config.LoadSection[ingest.Config](filepath.Join(home, demo.IngestConfigFile), deploy.SectionIngest)
	if err != nil {
		return nil, err
	}
	principal := grants.RoleARN("aws", offlineAccount)(role)
	if !slices.ContainsFunc(gs, func(g grants.Grant) bool { return g.Principal == principal }) {
		return nil, fmt.Errorf("role %s has no Lake Formation grants in %s", role, path)
	}
	_, governed := governedDatabases(ingest.CatalogDatabase(in.Source.Database))
	return lake.AccessIn(role, principal, gs, governed...), nil
}

// roleName is the name of a role written as a name or an ARN (arn:...:role/path/name
// gives path/name).
func roleName(role string) string {
	if !strings.HasPrefix(role, "arn:") {
		return strings.TrimPrefix(role, "/")
	}
	if _, name, ok := strings.Cut(role, ":role/"); ok {
		return name
	}
	return role
}
