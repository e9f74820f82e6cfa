package eventbus

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"

	"github.com/snaplake/snaplake/events"
)

func TestRoutesByTheProjectPatterns(t *testing.T) {
	bus, err := New(slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	vars := events.Params{DBInstanceIDs: []string{"warehouse-prod"}, CrawlerNames: []string{"snaplake-warehouse"}}.Vars()
	var created, finished atomic.Int32
	for name, counter := range map[string]*atomic.Int32{events.SnapshotCreated: &created, events.ExportFinished: &finished} {
		p, err := events.PatternJSON(name, vars)
		if err != nil {
			t.Fatal(err)
		}
		c := counter
		if err := bus.AddRule(name, p, func(context.Context, []byte) error { c.Add(1); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	sample, err := events.Sample("snapshot-created-automated")
	if err != nil {
		t.Fatal(err)
	}
	rules, err := bus.Publish(context.Background(), sample)
	if err != nil || len(rules) != 1 || rules[0] != events.SnapshotCreated {
		t.Fatalf("rules = %v, %v", rules, err)
	}
	if errs := bus.Wait(); len(errs) != 0 {
		t.Fatal(errs)
	}
	if created.Load() != 1 || finished.Load() != 0 {
		t.Errorf("created=%d finished=%d", created.Load(), finished.Load())
	}
	if _, err := bus.Publish(context.Background(), []byte(`{"source":`)); err == nil {
		t.Error("invalid JSON accepted")
	}
}

func TestTargetErrorsAreReported(t *testing.T) {
	bus, _ := New(slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := bus.AddRule("all-rds", []byte(`{"source":["aws.rds"]}`), func(context.Context, []byte) error { return errors.New("boom") }); err != nil {
		t.Fatal(err)
	}
	if err := bus.AddRule("all-rds", []byte(`{"source":["aws.rds"]}`), nil); err == nil {
		t.Error("duplicate rule name accepted")
	}
	if _, err := bus.Publish(context.Background(), []byte(`{"source":"aws.rds"}`)); err != nil {
		t.Fatal(err)
	}
	if errs := bus.Wait(); len(errs) != 1 {
		t.Errorf("errors = %v, want 1", errs)
	}
}
