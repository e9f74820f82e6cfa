package relocate

import (
	"context"
	"sync"
)

// group runs functions in goroutines, each holding a slot of a semaphore while it runs,
// and stops starting new ones at the first error. Its semaphores may be shared with other
// groups, so that one bound covers nested work (a multipart copy's parts share the copy
// requests' bound).
type group struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	wg     sync.WaitGroup
}

func newGroup(ctx context.Context) *group {
	ctx, cancel := context.WithCancelCause(ctx)
	return &group{ctx: ctx, cancel: cancel}
}

// Go waits for a slot of sem, then runs fn with the group's context in a goroutine. It
// returns false, starting nothing, once the group's context has ended.
func (g *group) Go(sem chan struct{}, fn func(ctx context.Context) error) bool {
	if !acquire(g.ctx, sem) {
		return false
	}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		defer func() { <-sem }()
		if err := fn(g.ctx); err != nil {
			g.cancel(err)
		}
	}()
	return true
}

// Wait waits for every started function and returns the first error, or the cause that
// ended the parent context.
func (g *group) Wait() error {
	g.wg.Wait()
	err := context.Cause(g.ctx)
	g.cancel(nil)
	return err
}

// forEach runs fn for 0..n-1 with at most limit at a time and stops at the first error.
func forEach(ctx context.Context, n, limit int, fn func(ctx context.Context, i int) error) error {
	g := newGroup(ctx)
	sem := make(chan struct{}, max(limit, 1))
	for i := range n {
		if !g.Go(sem, func(ctx context.Context) error { return fn(ctx, i) }) {
			break
		}
	}
	return g.Wait()
}

// acquire takes a slot of sem unless ctx ends first.
func acquire(ctx context.Context, sem chan struct{}) bool {
	select {
	case sem <- struct{}{}:
		if ctx.Err() != nil {
			<-sem
			return false
		}
		return true
	case <-ctx.Done():
		return false
	}
}
