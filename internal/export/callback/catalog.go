package callback

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	gluetypes "github.com/aws/aws-sdk-go-v2/service/glue/types"

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
}

// NewCatalogsFromEnv reads the settings the stack deploys when it catalogs new
// databases at runtime; nil (no creation) when it does not, as when the snapshot
// databases are governed by Lake Formation (see infra's catalogsAtRuntime).
func NewCatalogsFromEnv(getenv func(string) string, c CatalogCreator) (*NewCatalogs, error) {
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
	perms := []gluetypes.PrincipalPermissions{{
		Principal:   &gluetypes.DataLakePrincipal{DataLakePrincipalIdentifier: aws.String(deploy.IAMAllowedPrincipals)},
		Permissions: []gluetypes.Permission{gluetypes.PermissionAll},
	}}
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
