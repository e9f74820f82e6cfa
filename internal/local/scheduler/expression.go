package scheduler

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	// The offline run may be on a machine without zoneinfo; a schedule's zone must load.
	_ "time/tzdata"
)

// Next is the first instant after `after` at which EventBridge Scheduler fires the
// expression evaluated in the time zone tz ("" is UTC), or the zero time when it never
// fires again (an at() in the past, a cron whose years are over).
//
// A cron fires at each wall-clock minute of the zone that it matches, with the daylight
// saving rules the service documents (AWS Knowledge Center, "eventbridge-scheduler-
// adjust-dst"): "When the time shifts forward in Spring, your schedule invocation gets
// skipped if the cron expression falls on a non-existent date and time. When the time
// shifts back in the Fall, your schedule runs only once and doesn't repeat its
// invocation." Which of the two instants of a repeated time it runs at is not
// documented: Next takes the first.
//
// A rate runs relative to its last invocation ("evaluates the rate expression 24 hours
// after the schedule's last invocation", same article: a day is 24 hours, whatever the
// clock does), so Next treats `after` as that invocation and returns after + the rate.
//
// An at() fires once, at its wall-clock time in tz. One that names a time the clock
// skips is treated like a cron's (it never fires); that is unconfirmed.
func Next(expr, tz string, after time.Time) (time.Time, error) {
	e, err := parseExpression(expr)
	if err != nil {
		return time.Time{}, fmt.Errorf("schedule expression %s: %w", expr, err)
	}
	loc, err := loadZone(tz)
	if err != nil {
		return time.Time{}, err
	}
	return e.next(loc, after), nil
}

// expression is a parsed schedule expression: exactly one of cron, rate and at is set.
type expression struct {
	cron *cron
	rate time.Duration
	at   *time.Time // the wall-clock time, as UTC
}

func (e expression) next(loc *time.Location, after time.Time) time.Time {
	switch {
	case e.cron != nil:
		return e.cron.next(loc, after)
	case e.rate > 0:
		return after.Add(e.rate)
	}
	if u, ok := firstInstant(*e.at, loc); ok && u.After(after) {
		return u
	}
	return time.Time{}
}

// parseExpression reads at(yyyy-mm-ddThh:mm:ss), rate(value unit) or cron(6 fields).
// Its errors say what is wrong, not which expression: the caller names it.
func parseExpression(expr string) (expression, error) {
	kind, rest, ok := strings.Cut(expr, "(")
	body, closed := strings.CutSuffix(rest, ")")
	switch {
	case !ok || !closed:
	case kind == "cron":
		c, err := parseCron(body)
		return expression{cron: c}, err
	case kind == "rate":
		d, err := parseRate(body)
		return expression{rate: d}, err
	case kind == "at":
		t, err := time.ParseInLocation("2006-01-02T15:04:05", body, time.UTC)
		if err != nil {
			return expression{}, fmt.Errorf("%q is not a date and time yyyy-mm-ddThh:mm:ss", body)
		}
		return expression{at: &t}, nil
	}
	return expression{}, fmt.Errorf("write at(yyyy-mm-ddThh:mm:ss), rate(value unit) or cron(fields)")
}

// parseRate reads "value unit". The Scheduler documentation lists the units
// minute | minutes | hour | hours | day | days; whether it insists on the singular
// for 1 (as EventBridge rules do) is unconfirmed, so either is accepted.
func parseRate(body string) (time.Duration, error) {
	f := strings.Fields(body)
	if len(f) != 2 {
		return 0, fmt.Errorf("a rate is a value and a unit, e.g. rate(5 minutes)")
	}
	n, err := strconv.Atoi(f[0])
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%q is not a positive whole number", f[0])
	}
	units := map[string]time.Duration{
		"minute": time.Minute, "minutes": time.Minute,
		"hour": time.Hour, "hours": time.Hour,
		"day": 24 * time.Hour, "days": 24 * time.Hour,
	}
	unit, ok := units[f[1]]
	if !ok {
		return 0, fmt.Errorf("%q is not a unit: use minute(s), hour(s) or day(s)", f[1])
	}
	return time.Duration(n) * unit, nil
}

// loadZone loads a ScheduleExpressionTimezone: an IANA name, "" being UTC.
func loadZone(tz string) (*time.Location, error) {
	switch tz {
	case "", "UTC":
		return time.UTC, nil
	case "Local":
		// time.LoadLocation takes it, but it is the machine's zone, not a zone name.
		return nil, fmt.Errorf("time zone %q is not an IANA time zone name", tz)
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, fmt.Errorf("time zone %q is not an IANA time zone name", tz)
	}
	return loc, nil
}

// cron is a parsed six-field cron: each set is indexed by the field's value.
type cron struct {
	minutes, hours, months, years []bool
	// day reports whether the expression runs on a date; it is whichever of
	// day-of-month and day-of-week is not "?".
	day func(date time.Time) bool
}

type field struct {
	name     string
	min, max int
	names    []string // names[i] stands for min+i
}

var (
	minuteField = field{name: "minutes", min: 0, max: 59}
	hourField   = field{name: "hours", min: 0, max: 23}
	domField    = field{name: "day-of-month", min: 1, max: 31}
	monthField  = field{name: "month", min: 1, max: 12, names: []string{"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"}}
	dowField    = field{name: "day-of-week", min: 1, max: 7, names: []string{"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"}}
	yearField   = field{name: "year", min: 1970, max: 2199}
)

// parseCron reads the six fields "minutes hours day-of-month month day-of-week year"
// with the wildcards of the EventBridge cron reference (minutes, hours, month and
// year: , - * /; day-of-month: , - * ? / L W; day-of-week: , - * ? L #), names
// JAN-DEC and SUN-SAT (upper case, as the reference writes them; SUN is 1), and its
// rule that exactly one of day-of-month and day-of-week is "?". Where the reference
// says nothing, the stand-in is strict and says so: a range must not wrap (FRI-MON),
// and L, W and # stand alone in their field.
func parseCron(body string) (*cron, error) {
	f := strings.Fields(body)
	if len(f) != 6 {
		return nil, fmt.Errorf("a cron has six fields (minutes hours day-of-month month day-of-week year), this one has %d", len(f))
	}
	var c cron
	var err error
	if c.minutes, err = minuteField.set(f[0]); err != nil {
		return nil, err
	}
	if c.hours, err = hourField.set(f[1]); err != nil {
		return nil, err
	}
	if c.months, err = monthField.set(f[3]); err != nil {
		return nil, err
	}
	if c.years, err = yearField.set(f[5]); err != nil {
		return nil, err
	}
	switch dom, dow := f[2], f[4]; {
	case dom == "?" && dow == "?":
		return nil, fmt.Errorf("day-of-month and day-of-week are both ?: give one of them a value or *")
	case dom != "?" && dow != "?":
		return nil, fmt.Errorf("day-of-month %q and day-of-week %q are both given: one of them must be ?", dom, dow)
	case dow == "?":
		c.day, err = parseDayOfMonth(dom)
	default:
		c.day, err = parseDayOfWeek(dow)
	}
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// set reads a field of values, ranges and increments into a set indexed by value.
// An increment a/n runs from a to the field's end, as in Quartz, whose syntax
// EventBridge's follows.
func (f field) set(s string) ([]bool, error) {
	set := make([]bool, f.max+1)
	for _, item := range strings.Split(s, ",") {
		rng, step, stepped := strings.Cut(item, "/")
		if stepped && f.name == dowField.name {
			return nil, fmt.Errorf("%s %q: / (increments) is not allowed in day-of-week", f.name, s)
		}
		lo, hi := f.min, f.max
		switch a, b, isRange := strings.Cut(rng, "-"); {
		case rng == "*":
		case rng == "?":
			return nil, fmt.Errorf("%s %q: ? is allowed only in day-of-month and day-of-week, and alone", f.name, s)
		case isRange:
			var err error
			if lo, err = f.value(a); err != nil {
				return nil, err
			}
			if hi, err = f.value(b); err != nil {
				return nil, err
			}
			if lo > hi {
				return nil, fmt.Errorf("%s %q: the range %s runs backwards (the stand-in does not wrap ranges: write two, e.g. 22-23,0-2)", f.name, s, rng)
			}
		default:
			v, err := f.value(rng)
			if err != nil {
				return nil, err
			}
			lo = v
			if !stepped {
				hi = v
			}
		}
		inc := 1
		if stepped {
			n, err := strconv.Atoi(step)
			if err != nil || n < 1 {
				return nil, fmt.Errorf("%s %q: the increment %q is not a positive whole number", f.name, s, step)
			}
			inc = n
		}
		for v := lo; v <= hi; v += inc {
			set[v] = true
		}
	}
	return set, nil
}

// value reads one number or name of the field.
func (f field) value(s string) (int, error) {
	for i, n := range f.names {
		if s == n {
			return f.min + i, nil
		}
	}
	v, err := strconv.Atoi(s)
	if err == nil && v >= f.min && v <= f.max {
		return v, nil
	}
	switch {
	case strings.ContainsAny(s, "LW#"):
		return 0, fmt.Errorf("%s: %q: L, W and # are allowed only in day-of-month (L, W) and day-of-week (L, #), and alone in the field", f.name, s)
	case f.names != nil && strings.ToUpper(s) != s:
		return 0, fmt.Errorf("%s: %q: write names in upper case (%s)", f.name, s, strings.Join(f.names, ", "))
	case f.names != nil:
		return 0, fmt.Errorf("%s: %q is not a value: %d-%d or %s-%s", f.name, s, f.min, f.max, f.names[0], f.names[len(f.names)-1])
	}
	return 0, fmt.Errorf("%s: %q is not a value: %d-%d", f.name, s, f.min, f.max)
}

// parseDayOfMonth reads day-of-month: a set, L (the last day), LW (the last weekday)
// or nW (the weekday nearest the nth, within the month).
func parseDayOfMonth(s string) (func(time.Time) bool, error) {
	switch {
	case strings.Contains(s, ",") && strings.ContainsAny(s, "LW"):
		return nil, fmt.Errorf("day-of-month %q: L and W stand alone in the field (the stand-in's rule)", s)
	case s == "L":
		return func(d time.Time) bool { return d.Day() == lastDay(d) }, nil
	case s == "LW":
		return func(d time.Time) bool { return d.Day() == nearestWeekday(d, lastDay(d)) }, nil
	case strings.HasPrefix(s, "L"):
		return nil, fmt.Errorf("day-of-month %q: the stand-in knows L and LW, not offsets from the last day", s)
	case strings.HasSuffix(s, "W"):
		n, err := strconv.Atoi(strings.TrimSuffix(s, "W"))
		if err != nil || n < 1 || n > 31 {
			return nil, fmt.Errorf("day-of-month %q: W follows one day, 1-31 (e.g. 15W), alone in the field", s)
		}
		// A month without the nth has no nearest weekday to it (Quartz's reading).
		return func(d time.Time) bool { return n <= lastDay(d) && d.Day() == nearestWeekday(d, n) }, nil
	}
	set, err := domField.set(s)
	if err != nil {
		return nil, err
	}
	return func(d time.Time) bool { return set[d.Day()] }, nil
}

// parseDayOfWeek reads day-of-week: a set of 1-7 or SUN-SAT, L (the last day of the
// week, SAT), dL (the month's last day d) or d#n (the month's nth day d, n 1-5).
func parseDayOfWeek(s string) (func(time.Time) bool, error) {
	dow := func(d time.Time) int { return int(d.Weekday()) + 1 }
	switch {
	case strings.Contains(s, ",") && strings.ContainsAny(s, "L#"):
		// The reference: "3#1,6#3" is invalid, being two expressions.
		return nil, fmt.Errorf("day-of-week %q: L and # stand alone in the field", s)
	case s == "L":
		// "The last day of the week": SAT, where SUN is the first (Quartz's L).
		return func(d time.Time) bool { return d.Weekday() == time.Saturday }, nil
	case strings.Contains(s, "#"):
		day, nth, _ := strings.Cut(s, "#")
		wd, err := dowField.value(day)
		n, nerr := strconv.Atoi(nth)
		if err != nil || nerr != nil || n < 1 || n > 5 {
			return nil, fmt.Errorf("day-of-week %q: # is one day and its number in the month, 1-5 (e.g. 2#1 or MON#1 for the first Monday), alone in the field", s)
		}
		return func(d time.Time) bool { return dow(d) == wd && (d.Day()-1)/7+1 == n }, nil
	case strings.HasSuffix(s, "L"):
		wd, err := dowField.value(strings.TrimSuffix(s, "L"))
		if err != nil {
			return nil, fmt.Errorf("day-of-week %q: L follows one day (e.g. 6L for the last Friday), alone in the field", s)
		}
		return func(d time.Time) bool { return dow(d) == wd && d.Day()+7 > lastDay(d) }, nil
	}
	set, err := dowField.set(s)
	if err != nil {
		return nil, err
	}
	return func(d time.Time) bool { return set[dow(d)] }, nil
}

// lastDay is the number of days in d's month.
func lastDay(d time.Time) int {
	return time.Date(d.Year(), d.Month()+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// nearestWeekday is the Monday-to-Friday day of d's month nearest its nth, never
// crossing into another month (Quartz's W).
func nearestWeekday(d time.Time, n int) int {
	last := lastDay(d)
	switch time.Date(d.Year(), d.Month(), n, 0, 0, 0, 0, time.UTC).Weekday() {
	case time.Saturday:
		if n == 1 {
			return 3
		}
		return n - 1
	case time.Sunday:
		if n == last {
			return n - 2
		}
		return n + 1
	}
	return n
}

// next walks the calendar from the day before after's date (a fall back across
// midnight can put a later instant on an earlier date) to the end of year 2199.
func (c *cron) next(loc *time.Location, after time.Time) time.Time {
	a := after.In(loc)
	date := time.Date(a.Year(), a.Month(), a.Day()-1, 0, 0, 0, 0, time.UTC)
	if date.Year() < yearField.min {
		date = time.Date(yearField.min, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	for date.Year() <= yearField.max {
		y, m, d := date.Date()
		switch {
		case !c.years[y]:
			date = time.Date(y+1, 1, 1, 0, 0, 0, 0, time.UTC)
			continue
		case !c.months[m]:
			date = time.Date(y, m+1, 1, 0, 0, 0, 0, time.UTC)
			continue
		case !c.day(date):
			date = date.AddDate(0, 0, 1)
			continue
		}
		for h, hok := range c.hours {
			for mi, mok := range c.minutes {
				if !hok || !mok {
					continue
				}
				wall := time.Date(y, m, d, h, mi, 0, 0, time.UTC)
				// No zone is 15 hours from UTC: skip times that cannot be after `after`.
				if !wall.Add(15 * time.Hour).After(after) {
					continue
				}
				if u, ok := firstInstant(wall, loc); ok && u.After(after) {
					return u
				}
			}
		}
		date = date.AddDate(0, 0, 1)
	}
	return time.Time{}
}

// firstInstant is the first instant at which loc's clock shows wall (given as UTC),
// false for a time the clock skips. time.Date cannot answer: for a skipped or
// repeated time "the choice of time zone, and therefore the time, is not guaranteed".
func firstInstant(wall time.Time, loc *time.Location) (time.Time, bool) {
	var first time.Time
	found := false
	for _, probe := range []time.Duration{-16 * time.Hour, 0, 16 * time.Hour} {
		_, off := wall.Add(probe).In(loc).Zone()
		u := wall.Add(-time.Duration(off) * time.Second)
		w := u.In(loc)
		shown := time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), 0, time.UTC)
		if shown.Equal(wall) && (!found || u.Before(first)) {
			first, found = u, true
		}
	}
	return first, found
}
