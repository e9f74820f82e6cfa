// Package crawlers points a Glue crawler at exact S3 folders. Both the nightly
// export's crawl and the ingest runs crawl exactly the table folders of their run,
// never a prefix that would also catch customer_address for customer.
package crawlers

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	gluetypes "github.com/aws/aws-sdk-go-v2/service/glue/types"
)

// UpdateInput is the UpdateCrawler request that changes only cr's S3 include paths
// to paths. It sends back every other field GetCrawler returned: how UpdateCrawler
// treats an omitted field is not documented, so nothing is left to it.
func UpdateInput(cr *gluetypes.Crawler, paths []string) *glue.UpdateCrawlerInput {
	targets := gluetypes.CrawlerTargets{}
	if cr.Targets != nil {
		targets = *cr.Targets
	}
	targets.S3Targets = nil
	for _, p := range paths {
		targets.S3Targets = append(targets.S3Targets, gluetypes.S3Target{Path: aws.String(p)})
	}
	in := &glue.UpdateCrawlerInput{
		Name:                         cr.Name,
		Role:                         cr.Role,
		DatabaseName:                 cr.DatabaseName,
		Description:                  cr.Description,
		Targets:                      &targets,
		Classifiers:                  cr.Classifiers,
		TablePrefix:                  cr.TablePrefix,
		SchemaChangePolicy:           cr.SchemaChangePolicy,
		RecrawlPolicy:                cr.RecrawlPolicy,
		LineageConfiguration:         cr.LineageConfiguration,
		Configuration:                cr.Configuration,
		CrawlerSecurityConfiguration: cr.CrawlerSecurityConfiguration,
	}
	if cr.Schedule != nil {
		in.Schedule = cr.Schedule.ScheduleExpression
	}
	// GetCrawler reports Lake Formation settings even when they are off (with an empty
	// account id); send them back only when they are in use.
	if lf := cr.LakeFormationConfiguration; lf != nil && aws.ToBool(lf.UseLakeFormationCredentials) {
		in.LakeFormationConfiguration = lf
	}
	return in
}

// CrawlerRunningError says the crawler cannot be pointed or started now: it is
// crawling for another run, or (Holder) another execution waits for its crawl. Both
// the export's and the ingest's workflows retry on it by this name (Lambda reports a
// Go error by its type name), so it is one type for both.
type CrawlerRunningError struct {
	Crawler string
	// Holder is the execution whose crawl it is, when known.
	Holder string
}

func (e *CrawlerRunningError) Error() string {
	if e.Holder != "" {
		return "crawler " + e.Crawler + " is crawling for execution " + e.Holder
	}
	return "crawler " + e.Crawler + " is still running a crawl"
}
