package ingest

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
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

var (
	daily    = DefaultSets()[SetDaily]
	frequent = DefaultSets()[SetFrequent]
)

// TestDue covers the two default sets in zones with and without daylight saving:
// Europe/Berlin springs forward 2026-03-29 (02:00 CET -> 03:00 CEST, at 01:00Z) and
// falls back 2026-10-25 (03:00 CEST -> 02:00 CET, at 01:00Z); America/New_York
// springs forward 2026-03-08 and falls back 2026-11-01, at 02:00 local.
func TestDue(t *testing.T) {
	tests := []struct {
		name string
		set  Set
		zone string
		at   string // RFC 3339
		want bool
	}{
		// frequent: every 15m, [08:00, 18:00), MON-FRI.
		{"window start is due", frequent, "Europe/Berlin", "2026-03-30T08:00:00+02:00", true},
		{"before the window", frequent, "Europe/Berlin", "2026-03-30T07:45:00+02:00", false},
		{"last run of the window", frequent, "Europe/Berlin", "2026-03-30T17:45:00+02:00", true},
		{"window end is not due", frequent, "Europe/Berlin", "2026-03-30T18:00:00+02:00", false},
		{"off the 15-minute grid", frequent, "Europe/Berlin", "2026-03-30T08:07:00+02:00", false},
		{"seconds are ignored", frequent, "Europe/Berlin", "2026-03-30T08:15:42+02:00", true},
		{"Saturday", frequent, "Europe/Berlin", "2026-03-28T10:00:00+01:00", false},
		{"Sunday", frequent, "Europe/Berlin", "2026-03-29T10:00:00+02:00", false},
		{"Friday in winter time", frequent, "Europe/Berlin", "2026-03-27T08:00:00+01:00", true},
		{"the same UTC instant after spring forward is 09:00", frequent, "Europe/Berlin", "2026-03-30T07:00:00Z", true},
		{"06:00Z is 08:00 in summer", frequent, "Europe/Berlin", "2026-03-30T06:00:00Z", true},
		{"06:00Z is 07:00 after fall back", frequent, "Europe/Berlin", "2026-10-26T06:00:00Z", false},
		{"07:00Z is 08:00 after fall back", frequent, "Europe/Berlin", "2026-10-26T07:00:00Z", true},
		{"17:45Z is 18:45 in winter", frequent, "Europe/Berlin", "2026-10-26T16:45:00Z", true},
		{"New York 08:00 EST", frequent, "America/New_York", "2026-11-02T13:00:00Z", true},
		{"New York 08:00 EDT", frequent, "America/New_York", "2026-10-30T12:00:00Z", true},
		{"New York 07:00 EST", frequent, "America/New_York", "2026-11-02T12:00:00Z", false},
		{"Monday in Tokyo is Sunday in UTC", frequent, "Asia/Tokyo", "2026-03-29T23:00:00Z", true},
		{"Saturday in Tokyo is Friday in UTC", frequent, "Asia/Tokyo", "2026-03-27T23:00:00Z", false},
		{"Kolkata is UTC+05:30", frequent, "Asia/Kolkata", "2026-03-30T02:30:00Z", true},
		{"UTC", frequent, "UTC", "2026-03-30T08:00:00Z", true},

		// daily: 02:00 every day.
		{"daily in winter time", daily, "Europe/Berlin", "2026-03-28T01:00:00Z", true},
		{"daily an hour early", daily, "Europe/Berlin", "2026-03-28T00:00:00Z", false},
		{"skipped 02:00 runs at 03:00 CEST", daily, "Europe/Berlin", "2026-03-29T01:00:00Z", true},
		{"01:00 CET on spring forward day", daily, "Europe/Berlin", "2026-03-29T00:00:00Z", false},
		{"04:00 CEST on spring forward day", daily, "Europe/Berlin", "2026-03-29T02:00:00Z", false},
		{"daily in summer time", daily, "Europe/Berlin", "2026-03-30T00:00:00Z", true},
		{"repeated 02:00, first (CEST)", daily, "Europe/Berlin", "2026-10-25T00:00:00Z", true},
		{"repeated 02:00, second (CET)", daily, "Europe/Berlin", "2026-10-25T01:00:00Z", true},
		{"after fall back", daily, "Europe/Berlin", "2026-10-26T01:00:00Z", true},
		{"New York skipped 02:00 runs at 03:00 EDT", daily, "America/New_York", "2026-03-08T07:00:00Z", true},
		{"New York 01:00 EST on spring forward day", daily, "America/New_York", "2026-03-08T06:00:00Z", false},
		{"New York 02:00 EST after fall back", daily, "America/New_York", "2026-11-01T07:00:00Z", true},
		{"New York 01:00 EDT on fall back day", daily, "America/New_York", "2026-11-01T05:00:00Z", false},
		{"daily 02:30 skipped runs at 03:30", Set{At: "02:30"}, "America/New_York", "2026-03-08T07:30:00Z", true},
		{"daily 02:30 not at 03:00", Set{At: "02:30"}, "America/New_York", "2026-03-08T07:00:00Z", false},
		{"daily Kolkata is the previous UTC day", daily, "Asia/Kolkata", "2026-03-29T20:30:00Z", true},

		// other shapes
		{"every 2h from the window start", Set{Every: "2h", Between: "07:30-20:00"}, "UTC", "2026-03-30T09:30:00Z", true},
		{"every 2h, off grid", Set{Every: "2h", Between: "07:30-20:00"}, "UTC", "2026-03-30T08:30:00Z", false},
		{"every 6h anchored at 01:00", Set{Every: "6h", At: "01:00"}, "UTC", "2026-03-30T19:00:00Z", true},
		{"weekend only", Set{At: "05:00", Days: []string{"sat", "SUN"}}, "UTC", "2026-03-29T05:00:00Z", true},
		{"weekend only, Monday", Set{At: "05:00", Days: []string{"SAT", "SUN"}}, "UTC", "2026-03-30T05:00:00Z", false},
		{"window to midnight", Set{Every: "30m", Between: "22:00-24:00"}, "UTC", "2026-03-30T23:30:00Z", true},
		{"invalid set is never due", Set{Every: "15x"}, "UTC", "2026-03-30T08:00:00Z", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at := utc(tt.at)
			if got := tt.set.Due(at, zone(t, tt.zone)); got != tt.want {
				t.Errorf("Due(%s = %s in %s) = %v, want %v", tt.at, at.In(zone(t, tt.zone)).Format("Mon 15:04 MST"), tt.zone, got, tt.want)
			}
		})
	}
}

func TestNextRun(t *testing.T) {
	tests := []struct {
		name  string
		set   Set
		zone  string
		after string
		want  string
	}{
		{"Friday evening to Monday morning across spring forward", frequent, "Europe/Berlin", "2026-03-27T17:50:00+01:00", "2026-03-30T06:00:00Z"},
		{"within the window", frequent, "Europe/Berlin", "2026-03-30T08:00:00+02:00", "2026-03-30T06:15:00Z"},
		{"after the window to the next morning", frequent, "America/New_York", "2026-11-02T17:45:00-05:00", "2026-11-03T13:00:00Z"},
		{"daily on spring forward day", daily, "Europe/Berlin", "2026-03-28T01:00:00Z", "2026-03-29T01:00:00Z"},
		{"daily after the skipped run", daily, "Europe/Berlin", "2026-03-29T01:00:00Z", "2026-03-30T00:00:00Z"},
		{"daily on fall back day: the first 02:00", daily, "Europe/Berlin", "2026-10-24T23:00:00Z", "2026-10-25T00:00:00Z"},
		{"daily after the first 02:00: the second", daily, "Europe/Berlin", "2026-10-25T00:00:00Z", "2026-10-25T01:00:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.set.NextRun(utc(tt.after), zone(t, tt.zone))
			if !got.Equal(utc(tt.want)) {
				t.Errorf("NextRun(%s) = %s (%s), want %s", tt.after, got.UTC().Format(time.RFC3339), got.Format(time.RFC3339), tt.want)
			}
			if !tt.set.Due(got, zone(t, tt.zone)) {
				t.Errorf("NextRun gave %s, which is not due", got)
			}
		})
	}
}

var year2026 = [2]time.Time{utc("2026-01-01T00:00:00Z"), utc("2027-01-01T00:00:00Z")}

func TestScheduleExpression(t *testing.T) {
	tests := []struct {
		name string
		set  Set
		zone string
		want string
	}{
		{"daily in UTC", daily, "UTC", "cron(0 2 * * ? *)"},
		{"frequent in UTC", frequent, "UTC", "cron(0/15 8-17 ? * MON-FRI *)"},
		{"frequent in Berlin: the jump at 02:00 is outside the window", frequent, "Europe/Berlin", "cron(0/15 8-17 ? * MON-FRI *)"},
		{"daily in Berlin also fires at 03:00 for the skipped day", daily, "Europe/Berlin", "cron(0 2-3 * * ? *)"},
		{"daily 02:30 in New York", Set{At: "02:30"}, "America/New_York", "cron(30 2-3 * * ? *)"},
		{"daily 04:00 in Berlin", Set{Every: "24h", At: "04:00"}, "Europe/Berlin", "cron(0 4 * * ? *)"},
		{"daily in Kolkata (no daylight saving)", daily, "Asia/Kolkata", "cron(0 2 * * ? *)"},
		{"every 6h", Set{Every: "6h"}, "UTC", "cron(0 0,6,12,18 * * ? *)"},
		{"every 30m on weekends", Set{Every: "30m", Between: "08:30-10:00", Days: []string{"SAT", "SUN"}}, "UTC", "cron(0/30 8-9 ? * SUN,SAT *)"},
		{"every 5m all day", Set{Every: "5m"}, "UTC", "cron(0/5 * * * ? *)"},
		{"every minute", Set{Every: "1m", Between: "09:00-10:00"}, "UTC", "cron(* 9 * * ? *)"},
		{"window starting off the hour", Set{Every: "15m", Between: "08:10-09:00"}, "UTC", "cron(10/15 8 * * ? *)"},
		{"a superset where the window is no product", Set{Every: "15m", Between: "08:40-10:00"}, "UTC", "cron(10/15 8-9 * * ? *)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.set.scheduleExpression(zone(t, tt.zone), year2026[0], year2026[1])
			if err != nil || got != tt.want {
				t.Errorf("ScheduleExpression = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	if _, err := (Set{Every: "7h"}).ScheduleExpression(time.UTC); err == nil || !strings.Contains(err.Error(), "does not divide 24h") {
		t.Errorf("every 7h: err = %v, want one saying it does not divide 24h", err)
	}
}

// TestScheduleExpressionFiresEveryRun checks the cron against Due the way EventBridge
// Scheduler evaluates it in the zone: it fires at a wall-clock time that matches,
// skips a time the clock skips, and fires a repeated time once. Every run Due
// expects through a year of daylight-saving changes must be fired (at one of its
// instants, for a repeated time), so that no day loses its run.
func TestScheduleExpressionFiresEveryRun(t *testing.T) {
	sets := map[string]Set{
		"daily":            daily,
		"frequent":         frequent,
		"daily 02:30":      {At: "02:30"},
		"every 20m nights": {Every: "20m", Between: "00:00-04:00"},
		"every 2h":         {Every: "2h", Between: "01:00-24:00"},
		"daily 00:30":      {At: "00:30"},
	}
	for _, z := range []string{"UTC", "Europe/Berlin", "America/New_York", "America/Santiago", "Australia/Lord_Howe", "Asia/Kolkata"} {
		loc := zone(t, z)
		for name, s := range sets {
			t.Run(z+"/"+name, func(t *testing.T) {
				t.Parallel()
				expr, err := s.scheduleExpression(loc, year2026[0], year2026[1])
				if err != nil {
					t.Fatal(err)
				}
				c := parseCron(t, expr)
				for at := s.NextRun(year2026[0], loc); at.Before(year2026[1]); at = s.NextRun(at, loc) {
					if !s.Due(at, loc) {
						t.Fatalf("NextRun gave %s, which is not due", at)
					}
					fired := c.matches(at.In(loc))
					// A repeated time fires at one of its two instants.
					for _, other := range []time.Duration{-time.Hour, time.Hour, -30 * time.Minute, 30 * time.Minute} {
						o := at.Add(other)
						if wall(o.In(loc)) == wall(at.In(loc)) && c.matches(o.In(loc)) {
							fired = true
						}
					}
					if !fired {
						t.Fatalf("%s: the run due at %s (%s) is never fired", expr, at.UTC().Format(time.RFC3339), at.In(loc).Format("Mon 2006-01-02 15:04 MST"))
					}
				}
			})
		}
	}
}

func wall(t time.Time) string { return t.Format("2006-01-02 15:04") }

// cron is the subset of EventBridge's cron syntax ScheduleExpression writes.
type cron struct{ minutes, hours, days []bool }

func parseCron(t *testing.T, expr string) cron {
	t.Helper()
	f := strings.Fields(strings.TrimSuffix(strings.TrimPrefix(expr, "cron("), ")"))
	if len(f) != 6 || f[3] != "*" || f[5] != "*" || (f[2] == "?") == (f[4] == "?") {
		t.Fatalf("%q: want six fields, month and year *, one of day-of-month and day-of-week ?", expr)
	}
	names := map[string]int{"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
	field := func(s string, lo, hi int) []bool {
		set := make([]bool, hi+1)
		if s == "*" || s == "?" {
			for i := lo; i <= hi; i++ {
				set[i] = true
			}
			return set
		}
		num := func(s string) int {
			if n, ok := names[s]; ok {
				return n
			}
			n, err := strconv.Atoi(s)
			if err != nil || n < lo || n > hi {
				t.Fatalf("%q: bad value %q", expr, s)
			}
			return n
		}
		for _, part := range strings.Split(s, ",") {
			switch {
			case strings.Contains(part, "/"):
				start, step, _ := strings.Cut(part, "/")
				for i := num(start); i <= hi; i += num(step) {
					set[i] = true
				}
			case strings.Contains(part, "-"):
				a, b, _ := strings.Cut(part, "-")
				for i := num(a); i <= num(b); i++ {
					set[i] = true
				}
			default:
				set[num(part)] = true
			}
		}
		return set
	}
	days := field(f[4], 1, 7)
	return cron{minutes: field(f[0], 0, 59), hours: field(f[1], 0, 23), days: days}
}

func (c cron) matches(wall time.Time) bool {
	return c.minutes[wall.Minute()] && c.hours[wall.Hour()] && c.days[int(wall.Weekday())+1]
}

func TestParseClock(t *testing.T) {
	for _, tt := range []struct {
		in   string
		end  bool
		want int
		err  bool
	}{
		{"00:00", false, 0, false}, {"08:00", false, 480, false}, {"23:59", false, 1439, false},
		{"24:00", true, 1440, false}, {"24:00", false, 0, true}, {"8:00", false, 0, true},
		{"08:60", false, 0, true}, {"25:00", true, 0, true}, {"0800", false, 0, true}, {"", false, 0, true},
	} {
		got, err := parseClock(tt.in, tt.end)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("parseClock(%q, end=%v) = %d, %v; want %d, error %v", tt.in, tt.end, got, err, tt.want, tt.err)
		}
	}
}

func TestConfigSetTakesTheScheduleWhole(t *testing.T) {
	c := Config{Sets: map[string]Set{
		SetFrequent: {Tables: []string{"orders"}},
		SetDaily:    {Every: "24h", At: "04:00"},
	}}
	f, _ := c.Set(SetFrequent)
	if f.Every != "15m" || f.Between != "08:00-18:00" || !slices.Equal(f.Days, frequent.Days) || !slices.Equal(f.Tables, []string{"orders"}) {
		t.Errorf("frequent with tables only = %+v, want the default schedule with its tables", f)
	}
	d, _ := c.Set(SetDaily)
	if d.At != "04:00" || len(d.Days) != 0 || !slices.Equal(d.Tables, []string{AllTables}) {
		t.Errorf("daily with its own schedule = %+v, want 04:00 every day, all tables", d)
	}
	if _, ok := c.Set("hourly"); ok {
		t.Error("an unknown set is found")
	}
}
