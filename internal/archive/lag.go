package archive

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Lag is a replica's delay behind the source; Stopped says replication is not
// running (Seconds_Behind_Master is NULL), which a run treats as too far behind.
type Lag struct {
	Behind  time.Duration
	Stopped bool
}

// LagProbe measures the replica that must not fall behind (SHOW REPLICA STATUS on
// it, or a metric such as RDS ReplicaLag).
type LagProbe interface {
	ReplicaLag(ctx context.Context) (Lag, error)
}

// LagFunc is a LagProbe from a function.
type LagFunc func(ctx context.Context) (Lag, error)

func (f LagFunc) ReplicaLag(ctx context.Context) (Lag, error) { return f(ctx) }

// LoadProbe measures the source's load: its Threads_running.
type LoadProbe interface {
	ThreadsRunning(ctx context.Context) (int, error)
}

// LoadFunc is a LoadProbe from a function.
type LoadFunc func(ctx context.Context) (int, error)

func (f LoadFunc) ThreadsRunning(ctx context.Context) (int, error) { return f(ctx) }

// NotAReplicaError says the server configured as the replica to watch answers SHOW
// REPLICA STATUS with nothing: it replicates from no source.
type NotAReplicaError struct{}

func (NotAReplicaError) Error() string {
	return "the configured replica answers SHOW REPLICA STATUS with no row: it is not a replica (configure the replica that serves reads, or none)"
}

// ReplicaStatus reads a replica's lag with SHOW REPLICA STATUS (MariaDB 10.5.1+,
// MySQL 8.0.22+), falling back to SHOW SLAVE STATUS on older servers. MariaDB and
// older MySQL name the lag Seconds_Behind_Master, newer MySQL Seconds_Behind_Source.
type ReplicaStatus struct{ DB *sql.DB }

func (r ReplicaStatus) ReplicaLag(ctx context.Context) (Lag, error) {
	rows, err := r.DB.QueryContext(ctx, "SHOW REPLICA STATUS")
	if err != nil && strings.Contains(err.Error(), "1064") { // ER_PARSE_ERROR: an older server
		rows, err = r.DB.QueryContext(ctx, "SHOW SLAVE STATUS")
	}
	if err != nil {
		return Lag{}, fmt.Errorf("replica lag: %w", err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return Lag{}, fmt.Errorf("replica lag: %w", err)
	}
	at := -1
	for i, c := range cols {
		if c == "Seconds_Behind_Master" || c == "Seconds_Behind_Source" {
			at = i
		}
	}
	if at < 0 {
		return Lag{}, fmt.Errorf("replica lag: SHOW REPLICA STATUS has no Seconds_Behind_Master or Seconds_Behind_Source column (columns %v)", cols)
	}
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return Lag{}, fmt.Errorf("replica lag: %w", err)
		}
		return Lag{}, NotAReplicaError{}
	}
	vals := make([]sql.NullString, len(cols))
	dest := make([]any, len(cols))
	for i := range vals {
		dest[i] = &vals[i]
	}
	if err := rows.Scan(dest...); err != nil {
		return Lag{}, fmt.Errorf("replica lag: %w", err)
	}
	// A multi-source replica has one row per source: the worst one counts.
	lag := Lag{}
	for {
		v := vals[at]
		if !v.Valid {
			lag.Stopped = true
		} else if s, err := strconv.ParseInt(v.String, 10, 64); err == nil && time.Duration(s)*time.Second > lag.Behind {
			lag.Behind = time.Duration(s) * time.Second
		}
		if !rows.Next() {
			break
		}
		if err := rows.Scan(dest...); err != nil {
			return Lag{}, fmt.Errorf("replica lag: %w", err)
		}
	}
	return lag, rows.Err()
}

// GlobalStatus reads the source's Threads_running (SHOW GLOBAL STATUS).
type GlobalStatus struct{ DB *sql.DB }

func (g GlobalStatus) ThreadsRunning(ctx context.Context) (int, error) {
	var name string
	var n int
	if err := g.DB.QueryRowContext(ctx, "SHOW GLOBAL STATUS LIKE 'Threads_running'").Scan(&name, &n); err != nil {
		return 0, fmt.Errorf("read Threads_running: %w", err)
	}
	return n, nil
}

// Clock tells the time and sleeps; tests pass one that sleeps instantly.
type Clock interface {
	Now() time.Time
	// Sleep waits d or until ctx ends, returning ctx's error then.
	Sleep(ctx context.Context, d time.Duration) error
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Pause reasons, as the summary counts them.
const (
	PauseReplicaLag     = "replica-lag"
	PauseReplicaStopped = "replica-stopped"
	PauseLagUnknown     = "replica-lag-unknown"
	PauseThreadsRunning = "threads-running"
	PauseLoadUnknown    = "threads-running-unknown"
)

// checkInterval is how often a waiting run asks again (pt-archiver's
// --check-interval default).
const checkInterval = time.Second

// why returns the reason to wait now, "" for none. A probe that fails counts as a
// reason to wait: a run that cannot see the replica must not load it.
func (r *runner) why(ctx context.Context, withLag bool) string {
	lim := r.job.Limits
	if withLag && r.deps.Lag != nil && lim.MaxReplicaLag > 0 {
		lag, err := r.deps.Lag.ReplicaLag(ctx)
		switch {
		case err != nil:
			r.log.Warn("archive: cannot read the replica's lag: waiting", "table", r.name, "err", err)
			return PauseLagUnknown
		case lag.Stopped:
			r.log.Warn("archive: the replica's replication is stopped: waiting", "table", r.name)
			return PauseReplicaStopped
		case lag.Behind > lim.MaxReplicaLag:
			r.log.Info("archive: replica lag above the limit: waiting", "table", r.name, "lag", lag.Behind, "max", lim.MaxReplicaLag)
			return PauseReplicaLag
		}
	}
	if lim.MaxThreadsRunning > 0 {
		n, err := r.load.ThreadsRunning(ctx)
		switch {
		case err != nil:
			r.log.Warn("archive: cannot read Threads_running: waiting", "table", r.name, "err", err)
			return PauseLoadUnknown
		case n > lim.MaxThreadsRunning:
			r.log.Info("archive: Threads_running above the limit: waiting", "table", r.name, "threadsRunning", n, "max", lim.MaxThreadsRunning)
			return PauseThreadsRunning
		}
	}
	return ""
}

// waitGentle waits while the replica lags or the source is loaded (withLag: before
// a write; reads wait on load only). It reports false when the budget ran out
// while waiting.
func (r *runner) waitGentle(ctx context.Context, withLag bool) (bool, error) {
	for {
		reason := r.why(ctx, withLag)
		if reason == "" {
			return true, ctx.Err()
		}
		r.countPause(reason)
		if r.budgetSpent() {
			return false, nil
		}
		if err := r.clock.Sleep(ctx, checkInterval); err != nil {
			return false, err
		}
	}
}
