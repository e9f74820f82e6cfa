package glue

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	gluetypes "github.com/aws/aws-sdk-go-v2/service/glue/types"
)

// CreateDatabase and CreateCrawler answer as Glue: a second creation of a name is
// AlreadyExistsException ("Database already exists."), a crawler the stand-in
// cannot crawl like AWS is InvalidInputException, and a created crawler is there
// for GetCrawler, with an exclusion of everything crawling nothing.
func TestCreateDatabaseAndCrawler(t *testing.T) {
	ctx := context.Background()
	cat, err := OpenCatalog(filepath.Join(t.TempDir(), "catalog.json"))
	if err != nil {
		t.Fatal(err)
	}
	s := &Service{Catalog: cat}
	in := &glue.CreateDatabaseInput{DatabaseInput: &gluetypes.DatabaseInput{Name: aws.String("Snap_HR")}}
	if _, err := s.CreateDatabase(ctx, in); err != nil {
		t.Fatal(err)
	}
	var exists *gluetypes.AlreadyExistsException
	if _, err := s.CreateDatabase(ctx, in); !errors.As(err, &exists) || exists.ErrorMessage() != "Database already exists." {
		t.Errorf("second CreateDatabase: %v, want AlreadyExistsException", err)
	}
	if dbs, _ := cat.Databases(); !slices.Equal(dbs, []string{"snap_hr"}) {
		t.Errorf("databases = %v, want [snap_hr] (Glue stores names lower-cased)", dbs)
	}
	var invalid *gluetypes.InvalidInputException
	if _, err := s.CreateDatabase(ctx, &glue.CreateDatabaseInput{DatabaseInput: &gluetypes.DatabaseInput{}}); !errors.As(err, &invalid) {
		t.Errorf("no name: %v, want InvalidInputException", err)
	}

	cr := &glue.CreateCrawlerInput{Name: aws.String("snaplake-hr"), Role: aws.String("arn:aws:iam::1:role/c"), DatabaseName: aws.String("snap_hr"),
		Targets:            &gluetypes.CrawlerTargets{S3Targets: []gluetypes.S3Target{{Path: aws.String("s3://lake/data/hr/"), Exclusions: []string{"**"}}}},
		SchemaChangePolicy: &gluetypes.SchemaChangePolicy{DeleteBehavior: gluetypes.DeleteBehaviorDeleteFromDatabase}}
	if _, err := s.CreateCrawler(ctx, cr); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateCrawler(ctx, cr); !errors.As(err, &exists) {
		t.Errorf("second CreateCrawler: %v, want AlreadyExistsException", err)
	}
	got, err := s.GetCrawler(ctx, &glue.GetCrawlerInput{Name: aws.String("snaplake-hr")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(got.Crawler.DatabaseName) != "snap_hr" || len(got.Crawler.Targets.S3Targets) != 0 || got.Crawler.SchemaChangePolicy.DeleteBehavior != gluetypes.DeleteBehaviorDeleteFromDatabase {
		t.Errorf("created crawler = %+v", got.Crawler)
	}
	for name, bad := range map[string]func(*glue.CreateCrawlerInput){
		"no role":         func(in *glue.CreateCrawlerInput) { in.Role = nil },
		"jdbc target":     func(in *glue.CreateCrawlerInput) { in.Targets.JdbcTargets = []gluetypes.JdbcTarget{{}} },
		"some exclusions": func(in *glue.CreateCrawlerInput) { in.Targets.S3Targets[0].Exclusions = []string{"*.csv"} },
		"not s3":          func(in *glue.CreateCrawlerInput) { in.Targets.S3Targets[0].Path = aws.String("lake/data/") },
	} {
		in := &glue.CreateCrawlerInput{Name: aws.String("snaplake-" + name), Role: aws.String("r"), DatabaseName: aws.String("snap_hr"),
			Targets: &gluetypes.CrawlerTargets{S3Targets: []gluetypes.S3Target{{Path: aws.String("s3://lake/data/x/")}}}}
		bad(in)
		if _, err := s.CreateCrawler(ctx, in); !errors.As(err, &invalid) {
			t.Errorf("%s: %v, want InvalidInputException", name, err)
		}
	}
}
