package glue

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	gluetypes "github.com/aws/aws-sdk-go-v2/service/glue/types"
)

// CreateDatabase has the signature of (*glue.Client).CreateDatabase. A database of
// that name (names are stored lower-cased) fails with AWS's
// *gluetypes.AlreadyExistsException ("Database already exists."); a missing name is
// an *gluetypes.InvalidInputException. The description and default permissions are
// accepted and not kept: Lake Formation is not modeled for the snapshot databases.
func (s *Service) CreateDatabase(_ context.Context, in *glue.CreateDatabaseInput, _ ...func(*glue.Options)) (*glue.CreateDatabaseOutput, error) {
	if in == nil || in.DatabaseInput == nil || aws.ToString(in.DatabaseInput.Name) == "" {
		return nil, &gluetypes.InvalidInputException{Message: aws.String("1 validation error detected: Value null at 'databaseInput.name' failed to satisfy constraint: Member must not be null")}
	}
	if s.Catalog == nil {
		return nil, fmt.Errorf("create database: glue.Service needs a Catalog")
	}
	name := strings.ToLower(aws.ToString(in.DatabaseInput.Name))
	err := s.Catalog.update(func(st *catalogFile) error {
		if slices.Contains(st.Databases, name) {
			return &gluetypes.AlreadyExistsException{Message: aws.String("Database already exists.")}
		}
		st.ensureDatabase(name)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &glue.CreateDatabaseOutput{}, nil
}

// CreateCrawler has the signature of (*glue.Client).CreateCrawler: it adds a crawler
// of S3 targets to Crawlers. A crawler of that name fails with
// *gluetypes.AlreadyExistsException; a missing name, role or database, a target
// kind other than S3 or an exclusion other than "**" (which crawls nothing, as the
// stack's crawlers start) is an *gluetypes.InvalidInputException, so a crawler
// that would crawl differently in AWS fails loudly here.
func (s *Service) CreateCrawler(_ context.Context, in *glue.CreateCrawlerInput, _ ...func(*glue.Options)) (*glue.CreateCrawlerOutput, error) {
	if in == nil {
		in = &glue.CreateCrawlerInput{}
	}
	name := aws.ToString(in.Name)
	invalid := func(format string, args ...any) error {
		return &gluetypes.InvalidInputException{Message: aws.String(fmt.Sprintf("crawler %s: ", name) + fmt.Sprintf(format, args...))}
	}
	switch {
	case name == "":
		return nil, invalid("Name is required")
	case aws.ToString(in.Role) == "":
		return nil, invalid("Role is required")
	case aws.ToString(in.DatabaseName) == "":
		return nil, invalid("DatabaseName is required by this stand-in (a crawler without one writes nowhere)")
	case in.Targets == nil || len(in.Targets.S3Targets) == 0:
		return nil, invalid("Targets needs at least one S3 target")
	case len(in.Targets.JdbcTargets)+len(in.Targets.DynamoDBTargets)+len(in.Targets.CatalogTargets)+len(in.Targets.MongoDBTargets)+
		len(in.Targets.DeltaTargets)+len(in.Targets.IcebergTargets)+len(in.Targets.HudiTargets) > 0:
		return nil, invalid("only S3 targets are implemented")
	case len(in.Classifiers) > 0 || aws.ToString(in.TablePrefix) != "" || aws.ToString(in.Schedule) != "":
		return nil, invalid("classifiers, a table prefix and a schedule are not implemented")
	}
	cr := Crawler{Name: name, Role: aws.ToString(in.Role), Database: strings.ToLower(aws.ToString(in.DatabaseName)),
		Configuration: aws.ToString(in.Configuration), SchemaChangePolicy: clonePtr(in.SchemaChangePolicy), RecrawlPolicy: clonePtr(in.RecrawlPolicy)}
	for _, t := range in.Targets.S3Targets {
		if _, err := parseTarget(aws.ToString(t.Path)); err != nil {
			return nil, invalid("%v", err)
		}
		switch {
		case len(t.Exclusions) == 0:
			cr.Targets = append(cr.Targets, aws.ToString(t.Path))
		case slices.Equal(t.Exclusions, []string{"**"}):
			// Everything below the path is excluded: the target crawls nothing.
		default:
			return nil, invalid("exclusions other than [\"**\"] are not implemented")
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if slices.ContainsFunc(s.Crawlers, func(c Crawler) bool { return c.Name == name }) {
		return nil, &gluetypes.AlreadyExistsException{Message: aws.String(fmt.Sprintf("%s already exists", name))}
	}
	s.Crawlers = append(s.Crawlers, cr)
	return &glue.CreateCrawlerOutput{}, nil
}
