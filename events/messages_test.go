package events_test

import (
	"encoding/json"
	"testing"

	"github.com/snaplake/snaplake/events"
)

// documentedMessages is the Message column of the RDS User Guide's tables "DB snapshot
// events" and "DB cluster snapshot events", in "Amazon RDS event categories and event
// messages":
// https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_Events.Messages.html#USER_Events.Messages.snapshot
// The wording has changed over time (public templates had to change their Message
// filters), which is why no pattern and no handler reads it: this only keeps the
// samples honest.
var documentedMessages = map[string]string{
	events.EventAutomatedSnapshotCreated:        "Automated snapshot created.",
	events.EventManualSnapshotCreated:           "Manual snapshot created.",
	events.EventExportCompleted:                 "The snapshot export task completed.",
	events.EventExportFailed:                    "The snapshot export task failed.",
	events.EventExportCanceled:                  "The snapshot export task was canceled.",
	events.EventClusterExportCompleted:          "The cluster snapshot export task completed.",
	events.EventClusterExportFailed:             "The cluster snapshot export task failed.",
	events.EventClusterExportCanceled:           "The cluster snapshot export task was canceled.",
	"RDS-EVENT-0168":                            "Creating automated cluster snapshot.",
	events.EventAutomatedClusterSnapshotCreated: "Automated cluster snapshot created.",
}

// Near misses that carry another event's text on purpose.
var borrowedMessages = map[string]string{
	// RDS-EVENT-0090 is "Creating automated snapshot."; this sample proves that 0091's
	// words under another EventID route nowhere.
	"nearmiss-snapshot-created-message-other-eventid": documentedMessages[events.EventAutomatedSnapshotCreated],
}

func TestRDSSamplesCarryTheDocumentedMessage(t *testing.T) {
	for _, s := range sampleNames(t) {
		var ev struct {
			Detail map[string]any `json:"detail"`
		}
		if err := json.Unmarshal(sample(t, s), &ev); err != nil {
			t.Fatalf("decode sample %s: %v", s, err)
		}
		id, ok := ev.Detail["EventID"].(string)
		if !ok {
			continue // not an RDS event
		}
		want, ok := borrowedMessages[s]
		if !ok {
			if want, ok = documentedMessages[id]; !ok {
				t.Errorf("sample %s: no documented message for %s: add it from the User Guide", s, id)
				continue
			}
		}
		if got := ev.Detail["Message"]; got != want {
			t.Errorf("sample %s (%s): Message %q, documented %q", s, id, got, want)
		}
	}
}
