package federate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/snaplake/snaplake/internal/redshift"
)

// The control table a subscriber keeps: which version of each table it holds.
const (
	ControlSchema = "snaplake_federator"
	ControlTable  = "loaded"
)

// SubscriberRun brings one subscriber's tables up to the newest complete versions.
type SubscriberRun struct {
	Name      string
	Warehouse redshift.Warehouse
	Store     Store
	// Lease is how long its loading marker keeps the versions it loads from being
	// pruned (default 2 h).
	Lease time.Duration
	Now   func() time.Time
	Log   *slog.Logger

	control sync.Once
	ctlErr  error
}

func (s *SubscriberRun) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func (s *SubscriberRun) log() *slog.Logger {
	if s.Log != nil {
		return s.Log.With("subscriber", s.Name)
	}
	return slog.Default().With("subscriber", s.Name)
}

// SubscribeAll subscribes every table, one after another; a table's failure is its
// result and the next goes on.
func (s *SubscriberRun) SubscribeAll(ctx context.Context, c Config) []Result {
	out := make([]Result, len(c.Tables))
	for i, t := range c.Tables {
		out[i] = s.Subscribe(ctx, t)
	}
	return out
}

// DriftError says the subscriber's table is not the published one: that table is
// refused, with what differs.
type DriftError struct {
	Subscriber, Table, Version string
	Differences                []string
}

func (e *DriftError) Error() string {
	return fmt.Sprintf("subscriber %s: table %s differs from version %s: %s (change the table to the published definition, or drop it: the next run creates it)",
		e.Subscriber, e.Table, e.Version, strings.Join(e.Differences, "; "))
}

// Diff lists what differs between a subscriber's columns and the published ones.
func Diff(here, published []redshift.Column) []string {
	var out []string
	find := func(cols []redshift.Column, name string) (redshift.Column, int) {
		for i, c := range cols {
			if strings.EqualFold(c.Name, name) {
				return c, i
			}
		}
		return redshift.Column{}, -1
	}
	for i, p := range published {
		h, j := find(here, p.Name)
		switch {
		case j < 0:
			out = append(out, fmt.Sprintf("column %s %s is missing here", p.Name, p.Type))
		case h.Type != p.Type:
			out = append(out, fmt.Sprintf("column %s is %s here, %s published", p.Name, h.Type, p.Type))
		case j != i:
			out = append(out, fmt.Sprintf("column %s is column %d here, %d published", p.Name, j+1, i+1))
		}
	}
	for _, h := range here {
		if _, j := find(published, h.Name); j < 0 {
			out = append(out, fmt.Sprintf("column %s %s is not published", h.Name, h.Type))
		}
	}
	return out
}

// Subscribe brings one table to its newest complete version: nothing when the
// control table already names it; else the versions from the newest full one (or,
// for append versions, from the version it holds) loaded in order, each through a
// staging table and swapped in within one transaction that also records it. A run
// killed anywhere leaves the table at a version it recorded.
func (s *SubscriberRun) Subscribe(ctx context.Context, t Table) Result {
	start := time.Now()
	res := Result{Table: t.Table, Subscriber: s.Name}
	finish := func(err error) Result {
		res.Seconds = time.Since(start).Seconds()
		if err != nil {
			res.Action, res.Error = ActionFailed, err.Error()
			s.log().ErrorContext(ctx, "table not subscribed", "table", t.Table, "error", err)
		}
		return res
	}
	if err := s.ensureControl(ctx); err != nil {
		return finish(err)
	}
	schema, name := t.Split()
	loaded, err := s.Loaded(ctx, t.Table)
	if err != nil {
		return finish(err)
	}
	vs, err := s.Store.Versions(ctx, t.Table)
	if err != nil {
		return finish(err)
	}
	newest, ok := Newest(vs)
	if !ok {
		res.Action = ActionUnchanged
		return finish(nil)
	}
	res.Version, res.Kind = newest.Name, newest.Version.Kind
	if loaded == newest.Name {
		res.Action, res.Rows = ActionUnchanged, newest.Version.Rows
		return finish(nil)
	}
	chain, err := s.chain(ctx, t.Table, newest.Name, loaded)
	if err != nil {
		return finish(err)
	}
	names := make([]string, len(chain))
	for i, m := range chain {
		names[i] = m.Version
	}
	marker := loadingKey(t.Table, s.Name)
	if err := s.Store.putJSON(ctx, marker, Loading{Subscriber: s.Name, Versions: names, Until: s.now().Add(s.lease())}, false); err != nil {
		return finish(err)
	}
	defer s.Store.S3.DeleteObject(context.WithoutCancel(ctx), &s3.DeleteObjectInput{Bucket: aws.String(s.Store.Bucket), Key: aws.String(marker)})

	last := chain[len(chain)-1]
	cols, err := s.Warehouse.Columns(ctx, schema, name)
	var missing *redshift.TableNotFoundError
	switch {
	case errors.As(err, &missing):
		if err := s.Warehouse.Exec(ctx, CreateTableSQL(schema, name, last.Columns)...); err != nil {
			return finish(fmt.Errorf("create %s from version %s: %w", t.Table, last.Version, err))
		}
		s.log().InfoContext(ctx, "created the table from the published definition", "table", t.Table, "version", last.Version)
	case err != nil:
		return finish(err)
	default:
		if d := Diff(cols, last.Columns); len(d) > 0 {
			return finish(&DriftError{Subscriber: s.Name, Table: t.Table, Version: last.Version, Differences: d})
		}
	}
	for _, m := range chain {
		if err := s.apply(ctx, schema, name, m); err != nil {
			return finish(err)
		}
		res.Rows += m.Rows
	}
	res.Action = ActionLoaded
	s.log().InfoContext(ctx, "table subscribed", "table", t.Table, "version", last.Version, "versions", len(chain), "rows", res.Rows)
	return finish(nil)
}

// chain is the manifests to load, in order, to go from loaded to newest: the append
// versions after loaded when newest extends it, else the newest full version and the
// append versions after it.
func (s *SubscriberRun) chain(ctx context.Context, table, newest, loaded string) ([]Manifest, error) {
	var chain []Manifest
	for name := newest; ; {
		m, err := s.Store.Manifest(ctx, table, name)
		if err != nil {
			return nil, err
		}
		chain = append([]Manifest{m}, chain...)
		if m.Kind == KindFull {
			return chain, nil
		}
		if m.After == loaded {
			return chain, nil
		}
		if m.After == "" {
			return nil, fmt.Errorf("version %s of %s is an append version that follows no version", name, table)
		}
		name = m.After
	}
}

// apply loads one version through a staging table and swaps it in.
func (s *SubscriberRun) apply(ctx context.Context, schema, name string, m Manifest) error {
	staging := name + stagingSuffix
	if err := s.Warehouse.Exec(ctx, StagingSQL(schema, name)...); err != nil {
		return fmt.Errorf("stage %s.%s: %w", schema, name, err)
	}
	rows, err := s.Warehouse.Copy(ctx, schema, staging, m.Files)
	if err != nil {
		return fmt.Errorf("copy version %s of %s.%s: %w", m.Version, schema, name, err)
	}
	if rows != m.Rows {
		return fmt.Errorf("version %s of %s.%s: copied %d rows, its manifest says %d", m.Version, schema, name, rows, m.Rows)
	}
	if err := s.Warehouse.Exec(ctx, SwapSQL(schema, name, m.Kind, m.Version, s.now())...); err != nil {
		return fmt.Errorf("swap in version %s of %s.%s: %w", m.Version, schema, name, err)
	}
	return nil
}

func (s *SubscriberRun) lease() time.Duration {
	if s.Lease > 0 {
		return s.Lease
	}
	return 2 * time.Hour
}

func (s *SubscriberRun) ensureControl(ctx context.Context) error {
	s.control.Do(func() { s.ctlErr = s.Warehouse.Exec(ctx, ControlSQL()...) })
	if s.ctlErr != nil {
		return fmt.Errorf("subscriber %s: create the control table %s.%s: %w", s.Name, ControlSchema, ControlTable, s.ctlErr)
	}
	return nil
}

// Loaded is the version of table the subscriber holds ("" for none).
func (s *SubscriberRun) Loaded(ctx context.Context, table string) (string, error) {
	schema, name := Table{Table: table}.Split()
	rows, err := s.Warehouse.Query(ctx, LoadedSQL(schema, name))
	if err != nil {
		var missing *redshift.TableNotFoundError
		if errors.As(err, &missing) {
			return "", nil
		}
		return "", fmt.Errorf("subscriber %s: read the control table: %w", s.Name, err)
	}
	if len(rows) == 0 || len(rows[0]) == 0 || rows[0][0] == nil {
		return "", nil
	}
	return *rows[0][0], nil
}
