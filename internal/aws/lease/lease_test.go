package lease

import (
	"context"
	"errors"
	"fmt"
	"sync"
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

// Of many runs racing for a free lease, or for the takeover of an expired one, exactly
// one wins; the others are told who holds it.
func TestExactlyOneRunWins(t *testing.T) {
	ctx := context.Background()
	s, now := newStore(t)
	race := func(round string) (winners []string) {
		var mu sync.Mutex
		var wg sync.WaitGroup
		for i := range 12 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				run := fmt.Sprintf("%s-%d", round, i)
				_, err := s.Acquire(ctx, "leases/x.json", "x", run, time.Hour)
				var held *HeldError
				switch {
				case err == nil:
					mu.Lock()
					winners = append(winners, run)
					mu.Unlock()
				case errors.As(err, &held):
				default:
					t.Errorf("run %s: %v", run, err)
				}
			}()
		}
		wg.Wait()
		return winners
	}
	if w := race("free"); len(w) != 1 {
		t.Fatalf("free lease: winners %v, want exactly one", w)
	}
	// The winner dies; once its lease expired, the takeover is a race again.
	*now = now.Add(2 * time.Hour)
	if w := race("expired"); len(w) != 1 {
		t.Fatalf("expired lease: winners %v, want exactly one", w)
	}
}

func TestTakeOverReleaseAndRetry(t *testing.T) {
	ctx := context.Background()
	s, now := newStore(t)
	if _, err := s.Acquire(ctx, "k", "thing", "a", time.Minute); err != nil {
		t.Fatal(err)
	}
	// A retried call of the holder keeps its lease.
	if exp, err := s.Acquire(ctx, "k", "thing", "a", time.Minute); err != nil || exp != nil {
		t.Fatalf("retried acquire: %v, %v", exp, err)
	}
	var held *HeldError
	if _, err := s.Acquire(ctx, "k", "thing", "b", time.Minute); !errors.As(err, &held) || held.Lease.Run != "a" {
		t.Fatalf("b while a holds it: %v", err)
	}
	*now = now.Add(2 * time.Minute)
	exp, err := s.Acquire(ctx, "k", "thing", "b", time.Minute)
	if err != nil || exp == nil || exp.Run != "a" {
		t.Fatalf("takeover of a's expired lease: %v, %v", exp, err)
	}
	// a comes back and releases: b's lease stays.
	if err := s.Release(ctx, "k", "thing", "a"); err != nil {
		t.Fatal(err)
	}
	if l, found, err := s.Read(ctx, "k"); err != nil || !found || l.Run != "b" {
		t.Fatalf("after a's late release: %+v %v %v", l, found, err)
	}
	if err := s.Release(ctx, "k", "thing", "b"); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := s.Read(ctx, "k"); found {
		t.Fatal("released lease still there")
	}
}
