package federate

import (
	"context"
	"strings"
	"time"
)

// NothingPublished is a table's status before its first complete version: not a
// failure.
const NothingPublished = "nothing published yet"

// TableStatus is a table's newest version and how far each subscriber is behind it.
type TableStatus struct {
	Table       string             `json:"table"`
	Action      string             `json:"action"` // "status"
	Version     string             `json:"version,omitempty"`
	Rows        int64              `json:"rows"`
	Seconds     float64            `json:"seconds"`
	Error       string             `json:"error,omitempty"`
	Subscribers []SubscriberStatus `json:"subscribers,omitempty"`
	// Statements are the table's UNLOAD, COPYs and swaps running now, and the last
	// one each side had cancelled past federate.statementTimeout, failed (with its
	// back-off) or cancelled on interruption.
	Statements []StatementStatus `json:"statements,omitempty"`
}

// StatementStatus is one running or cancelled statement of a table.
type StatementStatus struct {
	Kind       string     `json:"kind"`                 // UNLOAD | COPY
	Subscriber string     `json:"subscriber,omitempty"` // "" for the publisher's UNLOAD
	Statement  string     `json:"statement"`
	Version    string     `json:"version,omitempty"`
	State      string     `json:"state"` // running | cancelled | failed
	Submitted  time.Time  `json:"submitted"`
	Cancelled  *time.Time `json:"cancelled,omitempty"`
	// Owner is the identity that submitted it.
	Owner string `json:"owner,omitempty"`
	// Failures, RetryAfter and Error: the back-off after failed or cancelled
	// statements in a row (not submitted again before RetryAfter), and the last error.
	Failures   int        `json:"failures,omitempty"`
	RetryAfter *time.Time `json:"retryAfter,omitempty"`
	Error      string     `json:"error,omitempty"`
}

// A subscriber's state of a table in the status.
const (
	StateCurrent       = "current"        // it holds the newest version
	StateBehind        = "behind"         // a newer version waits (LagSeconds)
	StateNotSubscribed = "not subscribed" // the config does not list the table for it
	StateUnknown       = "unknown"        // its control table could not be read (Error)
)

// SubscriberStatus is one subscriber's place.
type SubscriberStatus struct {
	Subscriber string `json:"subscriber"`
	// State is StateCurrent, StateBehind, StateNotSubscribed or StateUnknown.
	State   string `json:"state"`
	Version string `json:"version,omitempty"` // "" when it holds none
	// LagSeconds is how long a newer version than the one it holds has been
	// published (0 when it holds the newest); LagRows the row counts' difference.
	LagSeconds float64 `json:"lagSeconds"`
	LagRows    int64   `json:"lagRows"`
	Error      string  `json:"error,omitempty"`
}

// Status reports every table, with the subscribers given (each read from its
// control table, for the tables the config lists for it).
func Status(ctx context.Context, store Store, c Config, subs []*SubscriberRun, now time.Time) []TableStatus {
	out := make([]TableStatus, len(c.Tables))
	for i, t := range c.Tables {
		start := time.Now()
		st := TableStatus{Table: t.Table, Action: "status"}
		vs, err := store.Versions(ctx, t.Table)
		newest, ok := Newest(vs)
		switch {
		case err != nil:
			st.Error = err.Error()
		case !ok:
			st.Error = NothingPublished
		default:
			st.Version, st.Rows = newest.Name, newest.Version.Rows
			for _, s := range subs {
				// A table the subscriber does not take is not lag: its warehouse is
				// not asked.
				if sub, ok := c.Subscriber(s.Name); ok && !sub.Takes(t.Table) {
					st.Subscribers = append(st.Subscribers, SubscriberStatus{Subscriber: s.Name, State: StateNotSubscribed})
					continue
				}
				st.Subscribers = append(st.Subscribers, subscriberStatus(ctx, s, t.Table, vs, newest, now))
			}
		}
		if recs, err := store.Statements(ctx, t.Table); err != nil {
			st.Error = strings.TrimPrefix(st.Error+"; "+err.Error(), "; ")
		} else {
			for _, r := range recs {
				ss := StatementStatus{Kind: r.Kind, Subscriber: r.Subscriber, Statement: r.ID, Version: r.Version,
					State: r.State, Submitted: r.Submitted, Cancelled: r.Cancelled, Failures: r.Failures, RetryAfter: r.RetryAfter, Error: r.Error}
				if r.Owner != nil {
					ss.Owner = r.Owner.String()
				}
				st.Statements = append(st.Statements, ss)
			}
		}
		st.Seconds = time.Since(start).Seconds()
		out[i] = st
	}
	return out
}

func subscriberStatus(ctx context.Context, s *SubscriberRun, table string, vs []Published, newest Published, now time.Time) SubscriberStatus {
	ss := SubscriberStatus{Subscriber: s.Name}
	loaded, err := s.Loaded(ctx, table)
	if err != nil {
		ss.State, ss.Error = StateUnknown, err.Error()
		return ss
	}
	ss.Version = loaded
	if loaded == newest.Name {
		ss.State = StateCurrent
		return ss
	}
	ss.State = StateBehind
	var held Version
	if loaded != "" {
		if v, err := ParseVersion(table, loaded); err == nil {
			held = v
		}
	}
	ss.LagRows = newest.Version.Rows - held.Rows
	ss.LagSeconds, _ = Lag(vs, loaded, now)
	return ss
}

// Lag is how long the holder of version held ("" for none) has been behind: since
// the first complete version after it was published; 0 and false when it holds the
// newest (or nothing is published).
func Lag(vs []Published, held string, now time.Time) (seconds float64, behind bool) {
	for _, v := range vs {
		if v.Complete && v.Name > held {
			return max(now.Sub(v.Version.Published).Seconds(), 0), true
		}
	}
	return 0, false
}
