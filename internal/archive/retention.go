package archive

import (
	"fmt"
	"regexp"
	"strconv"
	"time"
)

// Retention is how long rows stay in a table: N days, calendar months or years.
type Retention struct {
	N    int
	Unit RetentionUnit
}

// RetentionUnit is the unit of a Retention, as written after its number.
type RetentionUnit string

const (
	Days   RetentionUnit = "d"
	Months RetentionUnit = "mo"
	Years  RetentionUnit = "y"
)

// Bounds of a retention: a cutoff before year 1000 is below MySQL's DATETIME range,
// and a retention that long archives nothing.
const (
	maxRetentionYears = 100
)

var retentionForm = regexp.MustCompile(`^([0-9]+)([a-z]+)$`)

// ParseRetention reads "730d", "6mo" or "2y". A bare number, another unit (hours,
// minutes, weeks) or a value below one is refused: retention is counted in days,
// and a zero one would archive the rows written today.
func ParseRetention(s string) (Retention, error) {
	const form = `write days (730d), months (6mo) or years (2y)`
	m := retentionForm.FindStringSubmatch(s)
	if m == nil {
		switch _, err := strconv.Atoi(s); {
		case s == "":
			return Retention{}, fmt.Errorf("retention is missing: %s", form)
		case s[0] == '-':
			return Retention{}, fmt.Errorf("retention %q is negative: rows are kept for a positive period; %s", s, form)
		case err == nil:
			return Retention{}, fmt.Errorf("retention %q has no unit: %s", s, form)
		}
		return Retention{}, fmt.Errorf("retention %q is not a period: %s", s, form)
	}
	n, err := strconv.Atoi(m[1])
	unit := RetentionUnit(m[2])
	var max int
	switch unit {
	case Days:
		max = maxRetentionYears * 366
	case Months:
		max = maxRetentionYears * 12
	case Years:
		max = maxRetentionYears
	case "m":
		return Retention{}, fmt.Errorf("retention %q is ambiguous (minutes or months?): write %smo for months, or days (%sd)", s, m[1], m[1])
	default:
		return Retention{}, fmt.Errorf("retention %q has the unit %q: %s", s, m[2], form)
	}
	switch {
	case err != nil || n > max:
		return Retention{}, fmt.Errorf("retention %q is more than %d years: no row that old can be archived", s, maxRetentionYears)
	case n == 0:
		return Retention{}, fmt.Errorf("retention %q is zero: every row would be archived and deleted; %s", s, form)
	}
	return Retention{N: n, Unit: unit}, nil
}

func (r Retention) String() string { return strconv.Itoa(r.N) + string(r.Unit) }

// Cutoff is the first instant a run keeps: 00:00 UTC of the day that lies the
// retention before now's day (in UTC). Rows whose column is before it are archived.
// Being a day boundary, the cutoff is the same for every run of a day (a rerun
// resumes the same partition, cutoff=<date>), and a DATE column compares with it
// exactly. A month or year back from a day the shorter month lacks (31 March less
// one month) is that month's last day: a cutoff is never later than the retention
// allows, so no row is deleted early.
func (r Retention) Cutoff(now time.Time) time.Time {
	y, m, d := now.UTC().Date()
	months := 0
	switch r.Unit {
	case Days:
		return time.Date(y, m, d-r.N, 0, 0, 0, 0, time.UTC)
	case Months:
		months = r.N
	case Years:
		months = 12 * r.N
	}
	total := y*12 + int(m-1) - months
	ty, tm := total/12, time.Month(total%12+1)
	// Day 0 of the next month is the last day of this one.
	last := time.Date(ty, tm+1, 0, 0, 0, 0, 0, time.UTC).Day()
	return time.Date(ty, tm, min(d, last), 0, 0, 0, 0, time.UTC)
}
