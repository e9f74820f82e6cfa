package run

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	gluetypes "github.com/aws/aws-sdk-go-v2/service/glue/types"

	"github.com/snaplake/snaplake/internal/aws/crawlers"
)

// busyCrawler answers UpdateCrawler as Glue does while the crawler runs.
type busyCrawler struct{}

func (busyCrawler) GetCrawler(_ context.Context, in *glue.GetCrawlerInput, _ ...func(*glue.Options)) (*glue.GetCrawlerOutput, error) {
	return &glue.GetCrawlerOutput{Crawler: &gluetypes.Crawler{Name: in.Name, State: gluetypes.CrawlerStateRunning}}, nil
}

func (busyCrawler) UpdateCrawler(_ context.Context, in *glue.UpdateCrawlerInput, _ ...func(*glue.Options)) (*glue.UpdateCrawlerOutput, error) {
	return nil, &gluetypes.CrawlerRunningException{Message: aws.String("Crawler with name " + aws.ToString(in.Name) + " has already started")}
}

// TestBusyCrawlerIsTheSharedError: the ingest workflow retries on the name
// CrawlerRunningError, which Lambda takes from the Go type: the start returns the
// one type the export's await function returns too.
func TestBusyCrawlerIsTheSharedError(t *testing.T) {
	s := &Starter{Glue: busyCrawler{}}
	err := s.pointCrawler(context.Background(), "snaplake-ingest-daily", []string{"s3://lake/raw/shop/orders/"})
	var running *crawlers.CrawlerRunningError
	if !errors.As(err, &running) || running.Crawler != "snaplake-ingest-daily" {
		t.Fatalf("err = %v, want a *crawlers.CrawlerRunningError naming the crawler", err)
	}
	if name := reflect.TypeOf(err).Elem().Name(); name != "CrawlerRunningError" {
		t.Errorf("Lambda would report %q, the workflow retries CrawlerRunningError", name)
	}
}
