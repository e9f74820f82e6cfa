package glue

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/snaplake/snaplake/events"
)

const (
	defaultAccount = "123456789012"
	defaultRegion  = "us-east-1"
)

// Detail shapes follow the examples in the EventBridge user guide; counts are strings there.
type startedDetail struct {
	CrawlerName string `json:"crawlerName"`
	State       string `json:"state"`
	AccountID   string `json:"accountId"`
	StartTime   string `json:"startTime"`
	Message     string `json:"message"`
}

type succeededDetail struct {
	CrawlerName       string `json:"crawlerName"`
	State             string `json:"state"`
	AccountID         string `json:"accountId"`
	Message           string `json:"message"`
	TablesCreated     string `json:"tablesCreated"`
	TablesUpdated     string `json:"tablesUpdated"`
	TablesDeleted     string `json:"tablesDeleted"`
	PartitionsCreated string `json:"partitionsCreated"`
	PartitionsUpdated string `json:"partitionsUpdated"`
	PartitionsDeleted string `json:"partitionsDeleted"`
	WarningMessage    string `json:"warningMessage"`
	RunningTimeSec    string `json:"runningTime (sec)"`
	CompletionDate    string `json:"completionDate"`
	CloudWatchLogLink string `json:"cloudWatchLogLink"`
}

type failedDetail struct {
	CrawlerName       string `json:"crawlerName"`
	State             string `json:"state"`
	AccountID         string `json:"accountId"`
	Message           string `json:"message"`
	ErrorMessage      string `json:"errorMessage"`
	CloudWatchLogLink string `json:"cloudWatchLogLink"`
}

func (s *Service) account() string {
	if s.Account != "" {
		return s.Account
	}
	return defaultAccount
}

func (s *Service) region() string {
	if s.Region != "" {
		return s.Region
	}
	return defaultRegion
}

func (s *Service) logLink(crawler string) string {
	r := s.region()
	return "https://console.aws.amazon.com/cloudwatch/home?region=" + r +
		"#logEventViewer:group=" + logGroup + ";stream=" + crawler
}

func (s *Service) envelope(at time.Time, detail any) ([]byte, error) {
	b, err := json.Marshal(events.Event[any]{
		Version:    "0",
		ID:         newEventID(),
		DetailType: events.DetailTypeCrawler,
		Source:     events.SourceGlue,
		Account:    s.account(),
		Time:       at.UTC().Format(time.RFC3339),
		Region:     s.region(),
		Resources:  []string{},
		Detail:     detail,
	})
	if err != nil {
		return nil, fmt.Errorf("encode %s event: %w", events.DetailTypeCrawler, err)
	}
	return b, nil
}

func (s *Service) startedEvent(cr Crawler, at time.Time) ([]byte, error) {
	return s.envelope(at, startedDetail{
		CrawlerName: cr.Name,
		State:       "Started",
		AccountID:   s.account(),
		StartTime:   at.UTC().Format(time.RFC3339),
		Message:     "Crawler Started",
	})
}

func (s *Service) succeededEvent(cr Crawler, start, end time.Time, st crawlStats) ([]byte, error) {
	warning := "N/A" // what AWS sends when there is nothing to say
	if len(st.warnings) > 0 {
		warning = strings.Join(st.warnings, "; ")
	}
	return s.envelope(end, succeededDetail{
		CrawlerName:       cr.Name,
		State:             "Succeeded",
		AccountID:         s.account(),
		Message:           "Crawler Succeeded",
		TablesCreated:     strconv.Itoa(st.tablesCreated),
		TablesUpdated:     strconv.Itoa(st.tablesUpdated),
		TablesDeleted:     strconv.Itoa(st.tablesDeleted),
		PartitionsCreated: strconv.Itoa(st.partitionsCreated),
		PartitionsUpdated: strconv.Itoa(st.partitionsUpdated),
		PartitionsDeleted: strconv.Itoa(st.partitionsDeleted),
		WarningMessage:    warning,
		RunningTimeSec:    strconv.Itoa(int(end.Sub(start).Seconds())),
		CompletionDate:    end.UTC().Format(time.RFC3339),
		CloudWatchLogLink: s.logLink(cr.Name),
	})
}

func (s *Service) failedEvent(cr Crawler, at time.Time, msg string) ([]byte, error) {
	return s.envelope(at, failedDetail{
		CrawlerName:       cr.Name,
		State:             "Failed",
		AccountID:         s.account(),
		Message:           "Crawler Failed",
		ErrorMessage:      msg,
		CloudWatchLogLink: s.logLink(cr.Name),
	})
}

// newEventID returns a random UUID-formatted id, as EventBridge event ids are.
func newEventID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
