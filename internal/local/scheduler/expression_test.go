package scheduler

import (
	"strings"
	"testing"
	"time"

	"github.com/snaplake/snaplake/internal/ingest"
)

func zone(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// setExpression is the expression internal/ingest deploys for a default set in tz.
func setExpression(t testing.TB, set, tz string) string {
	t.Helper()
	expr, err := ingest.DefaultSets()[set].ScheduleExpression(zone(t, tz))
	if err != nil {
		t.Fatal(err)
	}
	return expr
}

// The expressions the table below expects of internal/ingest: daily 02:00 also fires
// at 03:00, for the day the jump skips 02:00; frequent's window is clear of the jumps.
func TestDefaultSetExpressions(t *testing.T) {
	for _, tt := range []struct{ set, tz, want string }{
		{ingest.SetDaily, "Europe/Berlin", "cron(0 2-3 * * ? *)"},
		{ingest.SetDaily, "America/New_York", "cron(0 2-3 * * ? *)"},
		{ingest.SetFrequent, "Europe/Berlin", "cron(0/15 8-17 ? * MON-FRI *)"},
		{ingest.SetFrequent, "America/New_York", "cron(0/15 8-17 ? * MON-FRI *)"},
	} {
		if got := setExpression(t, tt.set, tt.tz); got != tt.want {
			t.Errorf("%s in %s: ScheduleExpression = %q, want %q", tt.set, tt.tz, got, tt.want)
		}
	}
}

// TestNext: Europe/Berlin springs forward 2026-03-29 (02:00 CET -> 03:00 CEST, at
// 01:00Z) and falls back 2026-10-25 (03:00 CEST -> 02:00 CET, at 01:00Z);
// America/New_York springs forward 2026-03-08 (at 07:00Z) and falls back 2026-11-01
// (02:00 EDT -> 01:00 EST, at 06:00Z).
func TestNext(t *testing.T) {
	tests := []struct {
		name  string
		set   string // a default set, whose expression internal/ingest writes; or
		expr  string // an expression
		tz    string
		after string
		want  string // "" for never
	}{
		{"daily: 02:00 CET", ingest.SetDaily, "", "Europe/Berlin", "2026-03-28T00:00:00Z", "2026-03-28T01:00:00Z"},
		{"daily: then 03:00 CET, which ingest's Due ignores", ingest.SetDaily, "", "Europe/Berlin", "2026-03-28T01:00:00Z", "2026-03-28T02:00:00Z"},
		{"daily: skipped 02:00 on spring forward, 03:00 CEST fires", ingest.SetDaily, "", "Europe/Berlin", "2026-03-28T02:00:00Z", "2026-03-29T01:00:00Z"},
		{"daily: 02:00 CEST the day after", ingest.SetDaily, "", "Europe/Berlin", "2026-03-29T01:00:00Z", "2026-03-30T00:00:00Z"},
		{"daily: repeated 02:00 fires at the first, CEST", ingest.SetDaily, "", "Europe/Berlin", "2026-10-24T23:30:00Z", "2026-10-25T00:00:00Z"},
		{"daily: and not again at 02:00 CET", ingest.SetDaily, "", "Europe/Berlin", "2026-10-25T00:00:00Z", "2026-10-25T02:00:00Z"},
		{"daily New York: 03:00 EDT on spring forward", ingest.SetDaily, "", "America/New_York", "2026-03-08T05:00:00Z", "2026-03-08T07:00:00Z"},
		{"daily New York: 02:00 EST on fall back (not repeated there)", ingest.SetDaily, "", "America/New_York", "2026-11-01T04:00:00Z", "2026-11-01T07:00:00Z"},

		{"frequent: Friday evening to Monday 08:00 CEST", ingest.SetFrequent, "", "Europe/Berlin", "2026-03-27T16:45:00Z", "2026-03-30T06:00:00Z"},
		{"frequent: every 15 minutes", ingest.SetFrequent, "", "Europe/Berlin", "2026-03-30T06:00:00Z", "2026-03-30T06:15:00Z"},
		{"frequent: 17:45 is the last", ingest.SetFrequent, "", "Europe/Berlin", "2026-03-30T15:45:00Z", "2026-03-31T06:00:00Z"},
		{"frequent: Friday to Monday 08:00 CET", ingest.SetFrequent, "", "Europe/Berlin", "2026-10-23T15:45:00Z", "2026-10-26T07:00:00Z"},
		{"frequent New York: to Monday 08:00 EDT", ingest.SetFrequent, "", "America/New_York", "2026-03-06T22:45:00Z", "2026-03-09T12:00:00Z"},
		{"frequent New York: to Monday 08:00 EST", ingest.SetFrequent, "", "America/New_York", "2026-10-30T21:45:00Z", "2026-11-02T13:00:00Z"},

		{"repeated 01:30 fires at the first, EDT", "", "cron(30 1 * * ? *)", "America/New_York", "2026-11-01T05:00:00Z", "2026-11-01T05:30:00Z"},
		{"repeated 01:30 not again at EST", "", "cron(30 1 * * ? *)", "America/New_York", "2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"},
		{"skipped 02:30 has no run that day", "", "cron(30 2 * * ? *)", "Europe/Berlin", "2026-03-28T01:30:00Z", "2026-03-30T00:30:00Z"},
		{"UTC daily", "", "cron(0 12 * * ? *)", "", "2026-06-01T12:00:00Z", "2026-06-02T12:00:00Z"},
		{"month names", "", "cron(0 0 1 JAN,JUL ? *)", "UTC", "2026-01-01T00:00:00Z", "2026-07-01T00:00:00Z"},
		{"increment from an offset", "", "cron(5/20 * * * ? *)", "UTC", "2026-06-01T10:06:00Z", "2026-06-01T10:25:00Z"},
		{"increment wraps to the next hour", "", "cron(5/20 * * * ? *)", "UTC", "2026-06-01T10:45:00Z", "2026-06-01T11:05:00Z"},
		{"range with increment, day numbers", "", "cron(1-31/30 1 ? * 1,7 *)", "UTC", "2026-03-07T01:01:00Z", "2026-03-07T01:31:00Z"},
		{"range with increment: Saturday to Sunday", "", "cron(1-31/30 1 ? * 1,7 *)", "UTC", "2026-03-07T01:31:00Z", "2026-03-08T01:01:00Z"},
		{"hour list", "", "cron(0 0,6,12,18 * * ? *)", "UTC", "2026-06-01T12:00:00Z", "2026-06-01T18:00:00Z"},
		{"SUN is 1", "", "cron(0 10 ? * 1 *)", "UTC", "2026-03-02T00:00:00Z", "2026-03-08T10:00:00Z"},
		{"L: last day of February", "", "cron(0 9 L * ? *)", "UTC", "2026-02-01T00:00:00Z", "2026-02-28T09:00:00Z"},
		{"LW: last weekday (28th is a Saturday)", "", "cron(0 9 LW * ? *)", "UTC", "2026-02-01T00:00:00Z", "2026-02-27T09:00:00Z"},
		{"15W: Sunday 15th gives Monday 16th", "", "cron(0 9 15W * ? *)", "UTC", "2026-02-01T00:00:00Z", "2026-02-16T09:00:00Z"},
		{"1W: Saturday 1st gives Monday 3rd", "", "cron(0 9 1W * ? *)", "UTC", "2026-07-31T10:00:00Z", "2026-08-03T09:00:00Z"},
		{"2#1: first Monday", "", "cron(0 9 ? * 2#1 *)", "UTC", "2026-02-28T00:00:00Z", "2026-03-02T09:00:00Z"},
		{"MON#2: second Monday", "", "cron(0 9 ? * MON#2 *)", "UTC", "2026-02-28T00:00:00Z", "2026-03-09T09:00:00Z"},
		{"6L: last Friday", "", "cron(0 9 ? * 6L *)", "UTC", "2026-03-01T00:00:00Z", "2026-03-27T09:00:00Z"},
		{"L in day-of-week: Saturday", "", "cron(0 9 ? * L *)", "UTC", "2026-03-01T00:00:00Z", "2026-03-07T09:00:00Z"},
		{"29 February", "", "cron(0 0 29 2 ? *)", "UTC", "2026-01-01T00:00:00Z", "2028-02-29T00:00:00Z"},
		{"year over", "", "cron(0 0 1 1 ? 2026)", "UTC", "2026-06-01T00:00:00Z", ""},
		{"Monday in Tokyo is Sunday in UTC", "", "cron(0 8 ? * MON *)", "Asia/Tokyo", "2026-03-29T00:00:00Z", "2026-03-29T23:00:00Z"},
		{"rate minutes", "", "rate(5 minutes)", "UTC", "2026-06-01T10:02:00Z", "2026-06-01T10:07:00Z"},
		{"rate 1 day is 24 hours across spring forward", "", "rate(1 day)", "Europe/Berlin", "2026-03-28T01:00:00Z", "2026-03-29T01:00:00Z"},
		{"at, in its zone", "", "at(2026-12-24T18:00:00)", "Europe/Berlin", "2026-12-01T00:00:00Z", "2026-12-24T17:00:00Z"},
		{"at, past", "", "at(2026-12-24T18:00:00)", "Europe/Berlin", "2026-12-24T17:00:00Z", ""},
		{"at a skipped time", "", "at(2026-03-29T02:30:00)", "Europe/Berlin", "2026-03-01T00:00:00Z", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expr := tt.expr
			if tt.set != "" {
				expr = setExpression(t, tt.set, tt.tz)
			}
			got, err := Next(expr, tt.tz, utc(tt.after))
			if err != nil {
				t.Fatal(err)
			}
			var want time.Time
			if tt.want != "" {
				want = utc(tt.want)
			}
			if !got.Equal(want) {
				t.Errorf("Next(%s in %q after %s) = %s, want %s", expr, tt.tz, tt.after, got.UTC().Format(time.RFC3339), tt.want)
			}
		})
	}
}

func TestNextRefuses(t *testing.T) {
	tests := []struct{ expr, tz, want string }{
		{"cron(0 2 * * ?)", "UTC", "six fields"},
		{"cron(0 2 * * * *)", "UTC", "one of them must be ?"},
		{"cron(0 2 ? * ? *)", "UTC", "both ?"},
		{"cron(60 2 * * ? *)", "UTC", `minutes: "60" is not a value: 0-59`},
		{"cron(0 24 * * ? *)", "UTC", `hours: "24"`},
		{"cron(0 2 0 * ? *)", "UTC", `day-of-month: "0"`},
		{"cron(0 2 * 13 ? *)", "UTC", `month: "13"`},
		{"cron(0 2 ? * 8 *)", "UTC", `day-of-week: "8"`},
		{"cron(0 2 * * ? 1969)", "UTC", `year: "1969"`},
		{"cron(0 5-2 * * ? *)", "UTC", "runs backwards"},
		{"cron(0 2 ? * FRI-MON *)", "UTC", "runs backwards"},
		{"cron(0 2 ? * mon *)", "UTC", "upper case"},
		{"cron(0 2 * jan ? *)", "UTC", "upper case"},
		{"cron(0 2 ? * MON/2 *)", "UTC", "not allowed in day-of-week"},
		{"cron(0/0 2 * * ? *)", "UTC", "increment"},
		{"cron(0 ? * * ? *)", "UTC", "? is allowed only"},
		{"cron(L 2 * * ? *)", "UTC", "L, W and # are allowed only"},
		{"cron(0 2 L-2 * ? *)", "UTC", "not offsets"},
		{"cron(0 2 L,15 * ? *)", "UTC", "stand alone"},
		{"cron(0 2 32W * ? *)", "UTC", "W follows one day"},
		{"cron(0 2 ? * 2#1,6#3 *)", "UTC", "stand alone"},
		{"cron(0 2 ? * 2#6 *)", "UTC", "1-5"},
		{"rate(0 minutes)", "UTC", "positive"},
		{"rate(5 weeks)", "UTC", "not a unit"},
		{"rate(5)", "UTC", "a value and a unit"},
		{"at(2026-13-01T00:00:00)", "UTC", "yyyy-mm-ddThh:mm:ss"},
		{"at(2026-12-01 00:00)", "UTC", "yyyy-mm-ddThh:mm:ss"},
		{"every day", "UTC", "write at("},
		{"cron(0 2 * * ? *", "UTC", "write at("},
		{"cron(0 2 * * ? *)", "Mars/Olympus_Mons", "not an IANA"},
		{"cron(0 2 * * ? *)", "Local", "not an IANA"},
	}
	for _, tt := range tests {
		_, err := Next(tt.expr, tt.tz, utc("2026-01-01T00:00:00Z"))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Next(%q, %q) error = %v, want one containing %q", tt.expr, tt.tz, err, tt.want)
		}
	}
}
