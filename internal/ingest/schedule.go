package ingest

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	// A Lambda's provided.al2023 image has no zoneinfo: the zones travel in the binary.
	_ "time/tzdata"

	"github.com/snaplake/snaplake/internal/deploy"
)

// The sets the stack schedules.
const (
	SetDaily    = deploy.IngestSetDaily
	SetFrequent = deploy.IngestSetFrequent
)

// AllTables is the single value of Set.Tables that means every table discovery finds.
const AllTables = "all"

// DefaultSets are the sets that apply when the config leaves them out: every table
// once a day at 02:00, and a frequent set with no tables until the config lists some,
// every 15 minutes from 08:00 to 18:00 (18:00 itself excluded) Monday to Friday.
// Both are read in Config.TimeZone.
func DefaultSets() map[string]Set {
	return map[string]Set{
		SetDaily:    {Tables: []string{AllTables}, Every: "24h", At: "02:00"},
		SetFrequent: {Every: "15m", Between: "08:00-18:00", Days: []string{"MON", "TUE", "WED", "THU", "FRI"}},
	}
}

// Set returns the set as a run uses it: the config's set over its default. The
// schedule (every, at, between, days) is taken whole: a set that writes any of
// these four fields writes its whole schedule, so that leaving days out can mean
// "every day" rather than "the default's days". Tables left out take the default's.
func (c Config) Set(name string) (Set, bool) {
	def, known := DefaultSets()[name]
	s, written := c.Sets[name]
	switch {
	case !known && !written:
		return Set{}, false
	case !written:
		return def, true
	}
	if s.Every == "" && s.At == "" && s.Between == "" && len(s.Days) == 0 {
		s.Every, s.At, s.Between, s.Days = def.Every, def.At, def.Between, def.Days
	}
	if len(s.Tables) == 0 {
		s.Tables = def.Tables
	}
	return s, true
}

// Location loads TimeZone (UTC when empty).
func (c Config) Location() (*time.Location, error) {
	switch c.TimeZone {
	case "", "UTC":
		return time.UTC, nil
	case "Local":
		// LoadLocation accepts it, but it is whatever the machine running the Lambda says.
		return nil, fmt.Errorf("time zone %q depends on the machine: name an IANA zone such as Europe/Berlin", c.TimeZone)
	}
	loc, err := time.LoadLocation(c.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("time zone %q is not an IANA zone name (such as Europe/Berlin or America/New_York)", c.TimeZone)
	}
	return loc, nil
}

// schedule is a Set's schedule, parsed. Times of day are minutes after midnight.
type schedule struct {
	every       int // minutes, divides 1440
	anchor      int // runs fall on anchor + k*every
	from, until int // the window [from, until); 0 and 1440 when unlimited
	days        [7]bool
}

// minutes lists the times of day the schedule runs, in order.
func (s schedule) minutes() []int {
	var out []int
	for m := s.anchor % s.every; m < 1440; m += s.every {
		if m >= s.from && m < s.until {
			out = append(out, m)
		}
	}
	return out
}

// parse reads the schedule fields; each problem is a FieldError under path.
func (s Set) parse(path []string) (schedule, []error) {
	var errs []error
	fail := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Path: with(path, field), Problem: fmt.Sprintf(format, args...)})
	}
	sc := schedule{until: 1440}
	switch {
	case s.Every != "":
		d, err := time.ParseDuration(s.Every)
		switch {
		case err != nil:
			fail("every", "%q is not a duration (write 15m, 1h or 24h)", s.Every)
		case d <= 0:
			fail("every", "%q must be positive", s.Every)
		case d > 24*time.Hour:
			fail("every", "%q is longer than a day: every set runs at least daily (at most 24h)", s.Every)
		case d%time.Minute != 0:
			fail("every", "%q is not a whole number of minutes (the scheduler's precision is one minute)", s.Every)
		case (24*time.Hour)%d != 0:
			fail("every", "%q does not divide 24h, so the runs would drift from day to day (use 5m, 10m, 15m, 20m, 30m, 1h, 2h, 3h, 4h, 6h, 8h, 12h or 24h)", s.Every)
		default:
			sc.every = int(d / time.Minute)
		}
	case s.At != "":
		sc.every = 1440
	default:
		fail("every", "a set needs every (15m, 24h...) or at (02:00)")
	}
	if s.Between != "" {
		from, until, ok := strings.Cut(s.Between, "-")
		f, ferr := parseClock(strings.TrimSpace(from), false)
		u, uerr := parseClock(strings.TrimSpace(until), true)
		switch {
		case !ok:
			fail("between", "%q is not a window: write HH:MM-HH:MM, e.g. 08:00-18:00", s.Between)
		case ferr != nil:
			fail("between", "%q: start %v", s.Between, ferr)
		case uerr != nil:
			fail("between", "%q: end %v", s.Between, uerr)
		case f >= u:
			fail("between", "%q: the start must be before the end (a window cannot cross midnight; use 00:00-24:00 for the whole day)", s.Between)
		default:
			sc.from, sc.until, sc.anchor = f, u, f
		}
	}
	if s.At != "" {
		if m, err := parseClock(s.At, false); err != nil {
			fail("at", "%q: %v", s.At, err)
		} else {
			sc.anchor = m
		}
	}
	if len(s.Days) == 0 {
		sc.days = [7]bool{true, true, true, true, true, true, true}
	}
	for i, d := range s.Days {
		wd, ok := weekdays[strings.ToUpper(strings.TrimSpace(d))]
		if !ok {
			errs = append(errs, &FieldError{Path: with(path, "days", strconv.Itoa(i)), Problem: fmt.Sprintf("%q is not a day: use MON, TUE, WED, THU, FRI, SAT or SUN", d)})
			continue
		}
		sc.days[wd] = true
	}
	if len(errs) == 0 && len(sc.minutes()) == 0 {
		errs = append(errs, &FieldError{Path: path, Problem: fmt.Sprintf("the set never runs: none of its times (every %d minutes from %s) falls within %s",
			sc.every, clock(sc.anchor), s.Between)})
	}
	return sc, errs
}

var weekdays = map[string]time.Weekday{
	"SUN": time.Sunday, "MON": time.Monday, "TUE": time.Tuesday, "WED": time.Wednesday,
	"THU": time.Thursday, "FRI": time.Friday, "SAT": time.Saturday,
}

// parseClock reads HH:MM (24-hour). 24:00 is accepted only as the end of a window.
func parseClock(s string, end bool) (int, error) {
	h, m, ok := strings.Cut(s, ":")
	hh, herr := strconv.Atoi(h)
	mm, merr := strconv.Atoi(m)
	switch {
	case !ok || len(h) != 2 || len(m) != 2 || herr != nil || merr != nil:
		return 0, fmt.Errorf("%q is not a time of day: write HH:MM, e.g. 08:00", s)
	case end && hh == 24 && mm == 0:
		return 1440, nil
	case hh > 23 || mm > 59:
		return 0, fmt.Errorf("%q is not a time of day (00:00 to 23:59)", s)
	}
	return hh*60 + mm, nil
}

func clock(m int) string { return fmt.Sprintf("%02d:%02d", m/60, m%60) }

// Due reports whether a run of the set is due at the instant at, read in loc. The
// set's times are wall-clock times; seconds are ignored, since EventBridge Scheduler
// fires within the minute (pass the schedule's scheduled time, not the Lambda's clock,
// so that a late start still counts). A window includes its start and excludes its
// end: with 08:00-18:00, 08:00 is due and 18:00 is not.
//
// Daylight-saving changes:
//   - a time the clock skips (02:30 when 02:00 jumps to 03:00) runs as late as the
//     jump made it: at 03:30. Every set keeps its daily run, unlike a cron in the
//     zone, which EventBridge Scheduler skips on that day (ScheduleExpression adds
//     the shifted time so that it fires).
//   - a time the clock shows twice (02:30 when 03:00 falls back to 02:00) is due at
//     both instants: the scheduler runs such a time once and does not say which
//     instant, and a second run is harmless (the watermark makes it load nothing twice).
//
// Due is false for a set that does not validate.
func (s Set) Due(at time.Time, loc *time.Location) bool {
	sc, errs := s.parse(nil)
	if len(errs) > 0 {
		return false
	}
	t := at.Truncate(time.Minute)
	lt := t.In(loc)
	// A skipped time shifts forward by at most the jump, which may cross midnight.
	for _, day := range []time.Time{lt, lt.AddDate(0, 0, -1)} {
		if !sc.days[day.Weekday()] {
			continue
		}
		for _, m := range sc.minutes() {
			if slices.ContainsFunc(occurrences(day, m, loc), t.Equal) {
				return true
			}
		}
	}
	return false
}

// NextRun is the first instant after `after` at which the set is due (the first of
// a repeated time), or the zero time for a set that does not validate.
func (s Set) NextRun(after time.Time, loc *time.Location) time.Time {
	sc, errs := s.parse(nil)
	if len(errs) > 0 {
		return time.Time{}
	}
	// A skipped time runs shifted, possibly after the next run time, even the next
	// day's: take the earliest of the first day with a run and the day after it.
	var next time.Time
	lt := after.In(loc)
	for d, last := -1, 8; d <= last; d++ {
		if !next.IsZero() && last > d {
			last = d
		}
		day := lt.AddDate(0, 0, d)
		if !sc.days[day.Weekday()] {
			continue
		}
		y, mo, dd := day.Date()
		for _, m := range sc.minutes() {
			// No zone is more than 15h from UTC: skip times that cannot be the answer.
			naive := time.Date(y, mo, dd, m/60, m%60, 0, 0, time.UTC)
			if !naive.Add(15*time.Hour).After(after) || !next.IsZero() && !naive.Add(-15*time.Hour).Before(next) {
				continue
			}
			for _, u := range occurrences(day, m, loc) {
				if u.After(after) && (next.IsZero() || u.Before(next)) {
					next = u
				}
			}
		}
	}
	return next.In(loc)
}

// occurrences are the instants at which the wall-clock time m (minutes after
// midnight) of day's date happens in loc: one, two (a repeated hour) or, for a
// skipped time, the instant it would have been without the jump.
//
// time.Date cannot be used: for a skipped or repeated time "the choice of time zone,
// and therefore the time, is not guaranteed", and indeed it differs by zone.
func occurrences(day time.Time, m int, loc *time.Location) []time.Time {
	y, mo, d := day.Date()
	naive := time.Date(y, mo, d, m/60, m%60, 0, 0, time.UTC)
	var offsets []int
	for _, probe := range []time.Duration{-36 * time.Hour, 0, 36 * time.Hour} {
		_, off := naive.Add(probe).In(loc).Zone()
		if !slices.Contains(offsets, off) {
			offsets = append(offsets, off)
		}
	}
	slices.Sort(offsets)
	var out []time.Time
	for _, off := range slices.Backward(offsets) { // larger offset = earlier instant
		u := naive.Add(-time.Duration(off) * time.Second)
		w := u.In(loc)
		if wy, wmo, wd := w.Date(); wy == y && wmo == mo && wd == d && w.Hour()*60+w.Minute() == m {
			out = append(out, u)
		}
	}
	if len(out) == 0 {
		// Skipped: a jump forward raises the offset, so the smallest is the one
		// in force before it.
		out = append(out, naive.Add(-time.Duration(offsets[0])*time.Second))
	}
	return out
}

// ScheduleExpression is the EventBridge Scheduler cron (six fields) that fires the
// set, to be used with ScheduleExpressionTimezone = Config.TimeZone (loc):
// "cron(0/15 8-17 ? * MON-FRI *)" for every 15m between 08:00-18:00 MON-FRI,
// "cron(0 2 * * ? *)" for a daily run at 02:00 where the zone never skips 02:00.
//
// Where the zone's daylight-saving jump skips a run time (02:00 in Europe/Berlin and
// America/New_York), the scheduler would skip that day's run: the expression then
// also fires at the shifted time ("cron(0 2-3 * * ? *)"), which Due makes a no-op on
// every other day. A cron is a product of minutes, hours and days, so a schedule
// that is not one (a window starting 08:10 with every 15m) fires at a superset of its
// times; the Lambda runs only when Due, so Due is what decides, and a config change
// that narrows a schedule takes effect without a redeploy. Jumps are looked for from
// a year ago to three years ahead.
func (s Set) ScheduleExpression(loc *time.Location) (string, error) {
	now := time.Now()
	return s.scheduleExpression(loc, now.AddDate(-1, 0, 0), now.AddDate(3, 0, 0))
}

func (s Set) scheduleExpression(loc *time.Location, from, to time.Time) (string, error) {
	sc, errs := s.parse(nil)
	if len(errs) > 0 {
		return "", errs[0]
	}
	type fire struct {
		day time.Weekday
		m   int
	}
	fires := map[fire]bool{}
	for wd := range sc.days {
		if sc.days[wd] {
			for _, m := range sc.minutes() {
				fires[fire{time.Weekday(wd), m}] = true
			}
		}
	}
	// The zone's jumps forward in [from, to): the run times they skip fire shifted.
	for t := from; t.Before(to); {
		_, end := t.In(loc).ZoneBounds()
		if end.IsZero() || !end.Before(to) {
			break
		}
		_, before := end.Add(-time.Second).In(loc).Zone()
		_, after := end.In(loc).Zone()
		if jump := (after - before) / 60; jump > 0 {
			// The skipped wall times are [g, g+jump) of the day the jump happens on.
			wall := end.Add(time.Duration(before) * time.Second).UTC() // the clock as it was, at the jump
			g := wall.Hour()*60 + wall.Minute()
			if sc.days[wall.Weekday()] {
				for _, m := range sc.minutes() {
					if m >= g && m < g+jump {
						shifted := m + jump
						fires[fire{(wall.Weekday() + time.Weekday(shifted/1440)) % 7, shifted % 1440}] = true
					}
				}
			}
		}
		t = end
	}
	var days [7]bool
	var hours [24]bool
	var mins [60]bool
	for f := range fires {
		days[f.day], hours[f.m/60], mins[f.m%60] = true, true, true
	}
	dom, dow := "*", "?"
	if slices.Contains(days[:], false) {
		dom, dow = "?", cronDays(days)
	}
	return fmt.Sprintf("cron(%s %s %s * %s *)", cronMinutes(mins), cronList(hours[:], 0), dom, dow), nil
}

// cronMinutes writes "0/15" for a step that fills the hour, else a list.
func cronMinutes(set [60]bool) string {
	var ms []int
	for m, ok := range set {
		if ok {
			ms = append(ms, m)
		}
	}
	if len(ms) > 1 {
		step := ms[1] - ms[0]
		if 60%step == 0 && ms[0] < step && len(ms) == 60/step {
			if step == 1 {
				return "*"
			}
			return fmt.Sprintf("%d/%d", ms[0], step)
		}
	}
	return cronList(set[:], 0)
}

// cronList writes a set of numbers as ranges and single values ("8-17", "2,14").
func cronList(set []bool, base int) string {
	if !slices.Contains(set, false) {
		return "*"
	}
	var parts []string
	for i := 0; i < len(set); i++ {
		if !set[i] {
			continue
		}
		j := i
		for j+1 < len(set) && set[j+1] {
			j++
		}
		if j > i {
			parts = append(parts, fmt.Sprintf("%d-%d", i+base, j+base))
		} else {
			parts = append(parts, strconv.Itoa(i+base))
		}
		i = j
	}
	return strings.Join(parts, ",")
}

// cronDays writes days in EventBridge's order (SUN=1 .. SAT=7): ranges only where
// the days are consecutive in that order, so MON-FRI but SUN,SAT.
func cronDays(days [7]bool) string {
	names := [7]string{"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"}
	var parts []string
	for i := 0; i < 7; i++ {
		if !days[i] {
			continue
		}
		j := i
		for j+1 < 7 && days[j+1] {
			j++
		}
		if j > i {
			parts = append(parts, names[i]+"-"+names[j])
		} else {
			parts = append(parts, names[i])
		}
		i = j
	}
	return strings.Join(parts, ",")
}

// LongestGap is the longest time between two consecutive runs of the set, in loc,
// over the year after from (a year, so that both daylight saving changes are in
// it): what a freshness alarm must wait before it says the set is stale. A set
// limited to a window and to weekdays has its longest gap over the weekend. Zero
// when the schedule does not parse or never runs.
func (s Set) LongestGap(from time.Time, loc *time.Location) time.Duration {
	var longest time.Duration
	prev := s.NextRun(from, loc)
	if prev.IsZero() {
		return 0
	}
	for end := from.AddDate(1, 0, 0); prev.Before(end); {
		next := s.NextRun(prev, loc)
		if next.IsZero() {
			return 0
		}
		longest = max(longest, next.Sub(prev))
		prev = next
	}
	return longest
}
