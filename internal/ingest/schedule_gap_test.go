package ingest

import (
	"testing"
	"time"
)

// TestLongestGapOfTheDefaultSets: the wait of each set's freshness alarm.
func TestLongestGapOfTheDefaultSets(t *testing.T) {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		set  string
		loc  *time.Location
		want time.Duration
	}{
		{SetDaily, time.UTC, 24 * time.Hour},
		// At the autumn change 02:00 happens twice and the set runs at both; in spring
		// 02:00 is skipped and the run is shifted to 03:00 CEST, 24 h after the last.
		{SetDaily, berlin, 24 * time.Hour},
		{SetFrequent, time.UTC, 62*time.Hour + 15*time.Minute}, // Friday 17:45 to Monday 08:00
		{SetFrequent, berlin, 63*time.Hour + 15*time.Minute},   // the same over the autumn change
	} {
		if got := DefaultSets()[tt.set].LongestGap(from, tt.loc); got != tt.want {
			t.Errorf("%s in %s: %v, want %v", tt.set, tt.loc, got, tt.want)
		}
	}
}
