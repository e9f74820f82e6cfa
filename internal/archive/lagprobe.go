package archive

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"
)

// ReplicaOpener opens a connection pool to the replica at host:port with the
// source's credentials (a replica shares its source's users). The CLI and the
// Lambda each pass theirs: the CLI from --mysql-dsn, the Lambda from its secret
// (ReplicaDSN builds the DSN from the source's).
type ReplicaOpener func(ctx context.Context, addr string) (*sql.DB, error)

// LagProbeFor builds the probe the configured replica calls for, the one place the
// CLI and the Lambda choose it: host is SHOW REPLICA STATUS over a pool that open
// returns (closed by closeFn), instance the RDS ReplicaLag metric read
// through cw. Without a replica it returns a nil probe: only Threads_running is
// checked. closeFn is never nil.
func LagProbeFor(ctx context.Context, r *ReplicaConfig, open ReplicaOpener, cw CloudWatchAPI) (probe LagProbe, closeFn func() error, err error) {
	noop := func() error { return nil }
	switch {
	case r == nil || (r.Host == "" && r.Instance == ""):
		return nil, noop, nil
	case r.Host != "" && r.Instance != "":
		return nil, noop, errors.New("replica: set one of host or instance, not both")
	case r.Instance != "":
		if cw == nil {
			return nil, noop, errNoCloudWatch
		}
		// RDS publishes ReplicaLag once a minute: a reading is kept for 30 s rather
		// than asked for before every DELETE (GetMetricData is billed per metric
		// read and shares the account's request quota).
		return &CachedLag{Next: RDSReplicaLag{CW: cw, Instance: r.Instance}, For: 30 * time.Second}, noop, nil
	}
	if open == nil {
		return nil, noop, fmt.Errorf("replica.host %s is set but no way to connect to it was given", r.Host)
	}
	addr := ReplicaAddr(r.Host)
	db, err := open(ctx, addr)
	if err != nil {
		return nil, noop, fmt.Errorf("connect to the replica %s: %w", addr, err)
	}
	return ReplicaStatus{DB: db}, db.Close, nil
}

// ReplicaAddr is host:port for replica.host, with MySQL's port 3306 when it names
// none.
func ReplicaAddr(host string) string {
	if _, _, err := net.SplitHostPort(host); err == nil {
		return host
	}
	return net.JoinHostPort(host, "3306")
}

// ReplicaDSN is the source's DSN pointed at the replica's address: same user,
// password, TLS and parameters, so that the opener needs nothing more.
func ReplicaDSN(sourceDSN, addr string) (string, error) {
	c, err := mysql.ParseDSN(sourceDSN)
	if err != nil {
		return "", fmt.Errorf("replica DSN from the source's: %w", err)
	}
	c.Net = "tcp"
	c.Addr = addr
	return c.FormatDSN(), nil
}

// errNoCloudWatch says a replica instance is configured but no CloudWatch client was
// given to read its metric.
var errNoCloudWatch = errors.New("replica.instance is set but no CloudWatch client was given to read its ReplicaLag metric")

// CachedLag answers Next's last reading for For after it was taken; an error is
// never kept (the next call asks again).
type CachedLag struct {
	Next LagProbe
	For  time.Duration
	Now  func() time.Time // time.Now when nil

	mu   sync.Mutex
	last Lag
	at   time.Time
}

// ReplicaLag is Next's reading, at most For old.
func (c *CachedLag) ReplicaLag(ctx context.Context) (Lag, error) {
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.at.IsZero() && now().Sub(c.at) < c.For {
		return c.last, nil
	}
	l, err := c.Next.ReplicaLag(ctx)
	if err != nil {
		return Lag{}, err
	}
	c.last, c.at = l, now()
	return l, nil
}
