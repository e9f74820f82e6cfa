package watermark

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/snaplake/snaplake/internal/local/s3server"
)

func newStore(t *testing.T) (Store, *time.Time) {
	t.Helper()
	srv, err := s3server.StartFake()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	if err := srv.CreateBucket(context.Background(), "lake"); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	return Store{S3: srv.Client(), Bucket: "lake", Now: func() time.Time { return now }}, &now
}

func ptr(s string) *string { return &s }

func TestOneWatermarkPerTableWhicheverSetLoadsIt(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	// The frequent set loads orders up to 41, then the daily set reads the same mark.
	if _, err := s.Acquire(ctx, "warehouse", "orders", "frequent-0900", time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, "warehouse", "orders", Mark{LakeName: "orders", Column: "id", Value: ptr("41"), Run: "frequent-0900"}); err != nil {
		t.Fatal(err)
	}
	st, err := s.Load(ctx, "warehouse")
	if err != nil {
		t.Fatal(err)
	}
	got := st.Tables["orders"]
	if got.Watermark == nil || *got.Watermark != "41" || got.Column != "id" || got.LoadingBy != "" {
		t.Fatalf("state of orders = %+v, want watermark 41 on id, not loading", got)
	}
}

func TestALoadedTableIsNeverLoadedConcurrently(t *testing.T) {
	ctx := context.Background()
	s, now := newStore(t)
	var won atomic.Int32
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Acquire(ctx, "warehouse", "customer", string(rune('a'+i)), time.Hour)
			var held *HeldError
			switch {
			case err == nil:
				won.Add(1)
			case !errors.As(err, &held):
				t.Errorf("Acquire: %v", err)
			}
		}()
	}
	wg.Wait()
	if won.Load() != 1 {
		t.Fatalf("%d runs took the lease of one table, want exactly 1", won.Load())
	}
	st, _ := s.Load(ctx, "warehouse")
	holder := st.Tables["customer"].LoadingBy
	if holder == "" {
		t.Fatal("the lease is not visible in the state")
	}
	// A run that does not hold the lease may not commit.
	var held *HeldError
	if err := s.Commit(ctx, "warehouse", "customer", Mark{Run: "intruder", Value: ptr("9")}); !errors.As(err, &held) {
		t.Errorf("commit without the lease: %v, want *HeldError", err)
	}
	// An expired lease (its run died) is taken over.
	*now = now.Add(2 * time.Hour)
	if _, err := s.Acquire(ctx, "warehouse", "customer", "next", time.Hour); err != nil {
		t.Fatalf("taking over an expired lease: %v", err)
	}
	// Names that share a prefix are separate tables.
	if _, err := s.Acquire(ctx, "warehouse", "customer_address", "other", time.Hour); err != nil {
		t.Fatalf("customer_address: %v", err)
	}
}

func TestNamesThatAreNotPathSegments(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	for _, table := range []string{"order-lines", "Übersicht", "select", "a/b", "x%20y"} {
		if _, err := s.Acquire(ctx, "ware house", table, "r", time.Hour); err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		if err := s.Commit(ctx, "ware house", table, Mark{LakeName: "t", Column: "id", Value: ptr(table), Run: "r"}); err != nil {
			t.Fatalf("%s: %v", table, err)
		}
	}
	st, err := s.Load(ctx, "ware house")
	if err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"order-lines", "Übersicht", "select", "a/b", "x%20y"} {
		if w := st.Tables[table].Watermark; w == nil || *w != table {
			t.Errorf("%q: watermark %v", table, w)
		}
	}
	if len(st.Tables) != 5 {
		t.Errorf("%d tables in the state, want 5: %v", len(st.Tables), st.Tables)
	}
}
