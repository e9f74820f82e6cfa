package callback

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	gluetypes "github.com/aws/aws-sdk-go-v2/service/glue/types"
	"github.com/aws/aws-sdk-go-v2/service/lakeformation"
	lftypes "github.com/aws/aws-sdk-go-v2/service/lakeformation/types"

	"github.com/snaplake/snaplake/internal/deploy"
)

// CatalogCreator is the part of Glue the crawl wait uses to catalog a database the
// stack was not deployed with: its Glue database, its _latest companion and its
// crawler. *glue.Client satisfies it.
type CatalogCreator interface {
	CreateDatabase(ctx context.Context, in *glue.CreateDatabaseInput, optFns ...func(*glue.Options)) (*glue.CreateDatabaseOutput, error)
	CreateCrawler(ctx context.Context, in *glue.CreateCrawlerInput, optFns ...func(*glue.Options)) (*glue.CreateCrawlerOutput, error)
}

// NewCatalogs is how the crawl wait catalogs a database that has no crawler yet
// (one the night exports because snaplake.yaml's export section names it, or
// because the snapshot has it): the same databases and crawler settings the stack
// deploys for snaplake:databases (deploy.Crawler*), so the night it first appears
// it is crawled, gets its _latest tables and is queryable.
type NewCatalogs struct {
	Glue CatalogCreator
	// DatabasePrefix names the Glue databases (deploy.GlueDatabaseName).
	DatabasePrefix string
	// CrawlerRole is the role the stack's crawlers run as; SecurityConfiguration is
	// theirs too (it encrypts the crawler's logs with the pipeline key).
	CrawlerRole           string
	SecurityConfiguration string
	// Governed, when set, says Lake Formation governs the snapshot databases: a new
	// database and its _latest companion grant nothing by default, and the stack's
	// roles get their deploy.SnapshotLakeGrants through Lake, which the function's
	// role may give as a data lake administrator (a database's creator can grant
	// others only CREATE_TABLE).
	Governed *GovernedCatalogs
}

// GovernedCatalogs is what cataloging a database under Lake Formation adds.
type GovernedCatalogs struct {
	Lake  LakeGranter
	Roles deploy.SnapshotRoles
}

// LakeGranter is the Lake Formation calls that grant and revoke.
// *lakeformation.Client satisfies it.
type LakeGranter interface {
	GrantPermissions(ctx context.Context, in *lakeformation.GrantPermissionsInput, optFns ...func(*lakeformation.Options)) (*lakeformation.GrantPermissionsOutput, error)
	RevokePermissions(ctx context.Context, in *lakeformation.RevokePermissionsInput, optFns ...func(*lakeformation.Options)) (*lakeformation.RevokePermissionsOutput, error)
}

// CatalogGrantError says a Lake Formation permission the stack's roles need on a
// database cataloged at runtime could not be granted: most likely the crawl
// wait's role is not (or no longer) a data lake administrator.
type CatalogGrantError struct {
	Database  string
	Principal string
	Err       error
}

func (e *CatalogGrantError) Error() string {
	return fmt.Sprintf("grant %s its Lake Formation permissions on %s: %v (the crawl wait's role must be a Lake Formation data lake administrator: the stack adds it, snaplake doctor checks it)", e.Principal, e.Database, e.Err)
}
func (e *CatalogGrantError) Unwrap() error { return e.Err }

// NewCatalogsFromEnv reads the settings the stack deploys when it catalogs new
// databases at runtime; nil (no creation) when it does not, as when the snapshot
// databases are governed by Lake Formation (see infra's catalogsAtRuntime).
//
// Where Lake Formation governs them (deploy.EnvGrantsRoleArn set), lake grants the
// stack's roles their permissions on each database it creates.
func NewCatalogsFromEnv(getenv func(string) string, c CatalogCreator, lake LakeGranter) (*NewCatalogs, error) {
	role := getenv(deploy.EnvCrawlerRoleArn)
	if role == "" {
		return nil, nil
	}

	n := &NewCatalogs{Glue: c, DatabasePrefix: getenv(deploy.EnvGlueDatabasePrefix), CrawlerRole: role,
		SecurityConfiguration: getenv(deploy.EnvCrawlerSecurityConfiguration)}
	switch {
	case c == nil:
		return nil, fmt.Errorf("%s is set but no Glue client was given to create crawlers with", deploy.EnvCrawlerRoleArn)
	case n.DatabasePrefix == "":
		return nil, fmt.Errorf("%s is set without %s: new Glue databases would not be scoped to this stack", deploy.EnvCrawlerRoleArn, deploy.EnvGlueDatabasePrefix)
	case n.SecurityConfiguration == "":
		return nil, fmt.Errorf("%s is set without %s", deploy.EnvCrawlerRoleArn, deploy.EnvCrawlerSecurityConfiguration)
	}
	if grants := getenv(deploy.EnvGrantsRoleArn); grants != "" {
		latest := getenv(deploy.EnvLatestRoleArn)
		switch {
		case latest == "":
			return nil, fmt.Errorf("%s is set without %s", deploy.EnvGrantsRoleArn, deploy.EnvLatestRoleArn)
		case lake == nil:
			return nil, fmt.Errorf("%s is set but no Lake Formation client was given to grant with", deploy.EnvGrantsRoleArn)
		}
		n.Governed = &GovernedCatalogs{Lake: lake, Roles: deploy.SnapshotRoles{Crawler: role, Latest: latest, Grants: grants}}
	}
	return n, nil
}

// create makes the Glue database of the data folder folder, its _latest
// companion and the crawler named crawler, each unless it exists (another
// execution, or an earlier attempt of this one, may have made it).
func (n *NewCatalogs) create(ctx context.Context, log *slog.Logger, bucket, dataPrefix, folder, crawler string) error {
	if want := deploy.CrawlerName(folder); crawler != want {
		return &InvalidWaitError{Field: "key", Reason: fmt.Sprintf("crawler %q is not the crawler of folder %q (%s)", crawler, folder, want)}
	}
	name := deploy.GlueDatabaseName(n.DatabasePrefix, folder)
	// New tables grant ALL to IAM_ALLOWED_PRINCIPALS, as the stack's databases do
	// while IAM governs them: the analyst policy and the crawler's IAM decide access.
	// Governed, nothing (Lake Formation permissions only): a new table is visible to
	// no one until the access rules grant it.
	perms := []gluetypes.PrincipalPermissions{{
		Principal:   &gluetypes.DataLakePrincipal{DataLakePrincipalIdentifier: aws.String(deploy.IAMAllowedPrincipals)},
		Permissions: []gluetypes.Permission{gluetypes.PermissionAll},
	}}
	if n.Governed != nil {
		perms = []gluetypes.PrincipalPermissions{}
	}
	for _, db := range []gluetypes.DatabaseInput{
		{Name: aws.String(name), Description: aws.String(deploy.SnapshotDatabaseDescription(folder)), CreateTableDefaultPermissions: perms},
		{Name: aws.String(deploy.LatestDatabaseName(name)), Description: aws.String(deploy.LatestDatabaseDescription(folder, name)), CreateTableDefaultPermissions: perms},
	} {
		_, err := n.Glue.CreateDatabase(ctx, &glue.CreateDatabaseInput{DatabaseInput: &db})
		var exists *gluetypes.AlreadyExistsException
		switch {
		case errors.As(err, &exists):
			log.InfoContext(ctx, "Glue database exists", "database", aws.ToString(db.Name))
		case err != nil:
			return fmt.Errorf("create Glue database %s for data/%s: %w", aws.ToString(db.Name), folder, err)
		default:
			log.InfoContext(ctx, "created Glue database", "database", aws.ToString(db.Name))
		}
	}
	// Granted every time (an earlier attempt may have stopped between the creation
	// and the grants; a permission held already is granted again without change),
	// and before the crawler exists: its first run needs them.
	if n.Governed != nil {
		if err := n.Governed.grant(ctx, log, name); err != nil {
			return err
		}
	}
	_, err := n.Glue.CreateCrawler(ctx, &glue.CreateCrawlerInput{
		Name:         aws.String(crawler),
		Role:         aws.String(n.CrawlerRole),
		DatabaseName: aws.String(name),
		Description:  aws.String(deploy.CrawlerDescription(folder)),
		// As the stack's crawlers: nothing is crawled until the wait sets the include
		// paths, one per table folder.
		Targets: &gluetypes.CrawlerTargets{S3Targets: []gluetypes.S3Target{{
			Path: aws.String("s3://" + bucket + "/" + dataPrefix + folder + "/"), Exclusions: []string{"**"},
		}}},
		SchemaChangePolicy: &gluetypes.SchemaChangePolicy{
			UpdateBehavior: gluetypes.UpdateBehavior(deploy.CrawlerUpdateBehavior),
			DeleteBehavior: gluetypes.DeleteBehavior(deploy.CrawlerDeleteBehavior),
		},
		RecrawlPolicy:                &gluetypes.RecrawlPolicy{RecrawlBehavior: gluetypes.RecrawlBehavior(deploy.CrawlerRecrawlBehavior)},
		Configuration:                aws.String(deploy.CrawlerConfiguration),
		CrawlerSecurityConfiguration: aws.String(n.SecurityConfiguration),
	})
	var exists *gluetypes.AlreadyExistsException
	switch {
	case errors.As(err, &exists):
		log.InfoContext(ctx, "crawler exists", "crawler", crawler)
	case err != nil:
		return fmt.Errorf("create crawler %s for data/%s: %w", crawler, folder, err)
	default:
		log.InfoContext(ctx, "created the crawler of a database the stack was not deployed with", "crawler", crawler, "database", name)
	}
	return nil
}

// owns says whether c is the crawler this stack runs for data folder folder: its
// role (Glue may answer the ARN or the name) and its Glue database.
func (n *NewCatalogs) owns(c *gluetypes.Crawler, folder string) error {
	if c == nil {
		return nil
	}
	role, db := aws.ToString(c.Role), aws.ToString(c.DatabaseName)
	want := deploy.GlueDatabaseName(n.DatabasePrefix, folder)
	sameRole := role == n.CrawlerRole || strings.HasSuffix(n.CrawlerRole, ":role/"+role) || strings.HasSuffix(n.CrawlerRole, "/"+role)
	if !sameRole || db != want {
		return &CrawlerNotOursError{Crawler: aws.ToString(c.Name), Role: role, Database: db, WantRole: n.CrawlerRole, WantDatabase: want}
	}
	return nil
}

// grant gives the stack's roles their permissions on the snapshot database name
// and its _latest companion.
func (g *GovernedCatalogs) grant(ctx context.Context, log *slog.Logger, name string) error {
	for _, p := range deploy.SnapshotLakeGrants(name, g.Roles) {
		res := &lftypes.Resource{Database: &lftypes.DatabaseResource{Name: aws.String(p.Database)}}
		if p.Table != "" {
			res = &lftypes.Resource{Table: &lftypes.TableResource{DatabaseName: aws.String(p.Database), TableWildcard: &lftypes.TableWildcard{}}}
		}
		in := &lakeformation.GrantPermissionsInput{
			Principal: &lftypes.DataLakePrincipal{DataLakePrincipalIdentifier: aws.String(p.Principal)},
			Resource:  res,
		}
		for _, perm := range p.Permissions {
			in.Permissions = append(in.Permissions, lftypes.Permission(perm))
		}
		for _, perm := range p.Grantable {
			in.PermissionsWithGrantOption = append(in.PermissionsWithGrantOption, lftypes.Permission(perm))
		}
		if err := grantRetrying(ctx, g.Lake, in); err != nil {
			return &CatalogGrantError{Database: p.Database, Principal: p.Principal, Err: err}
		}
	}
	// The account's default for new databases (CreateDatabaseDefaultPermissions, ALL
	// to IAM_ALLOWED_PRINCIPALS until an administrator changes it) applies to a
	// database whatever its CreateTableDefaultPermissions say: revoked, so that the
	// database is governed by Lake Formation alone, as its tables are.
	for _, db := range []string{name, deploy.LatestDatabaseName(name)} {
		_, err := g.Lake.RevokePermissions(ctx, &lakeformation.RevokePermissionsInput{
			Principal:   &lftypes.DataLakePrincipal{DataLakePrincipalIdentifier: aws.String(deploy.IAMAllowedPrincipals)},
			Resource:    &lftypes.Resource{Database: &lftypes.DatabaseResource{Name: aws.String(db)}},
			Permissions: []lftypes.Permission{lftypes.PermissionAll},
		})
		var nothing *lftypes.InvalidInputException // "No permissions revoked": it held none
		if err != nil && !errors.As(err, &nothing) {
			return &CatalogGrantError{Database: db, Principal: deploy.IAMAllowedPrincipals, Err: fmt.Errorf("revoke the account's default: %w", err)}
		}
	}
	log.InfoContext(ctx, "granted the stack's roles their Lake Formation permissions on a new database", "database", name, "latest", deploy.LatestDatabaseName(name))
	return nil
}

// grantRetrying grants in, again after a ConcurrentModificationException (another
// execution's crawl wait, or the grants function, changing permissions at the same
// time), at most 5 times.
func grantRetrying(ctx context.Context, lake LakeGranter, in *lakeformation.GrantPermissionsInput) error {
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		if _, err = lake.GrantPermissions(ctx, in); err == nil {
			return nil
		}
		var busy *lftypes.ConcurrentModificationException
		if !errors.As(err, &busy) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(100<<attempt) * time.Millisecond):
		}
	}
	return err
}
