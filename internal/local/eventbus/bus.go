// Package eventbus is the offline stand-in for an EventBridge bus: rules with the
// project's real patterns (matched by quamina, with EventBridge's suffix and wildcard
// operators rewritten for it: pattern.go) route events to Go targets.
package eventbus

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
)

// Target receives a matched event, as an EventBridge target would.
type Target func(ctx context.Context, event []byte) error

// Bus routes events to the targets of every rule whose pattern matches.
type Bus struct {
	log *slog.Logger

	mu      sync.Mutex
	m       *Matcher
	targets map[string]Target
	wg      sync.WaitGroup
	errs    []error
	matched map[string]int // rule -> deliveries
}

// New returns an empty bus.
func New(log *slog.Logger) (*Bus, error) {
	m, err := NewMatcher()
	if err != nil {
		return nil, err
	}
	return &Bus{log: log, m: m, targets: map[string]Target{}, matched: map[string]int{}}, nil
}

// AddRule routes events matching pattern (EventBridge pattern JSON) to target.
func (b *Bus) AddRule(name string, pattern []byte, target Target) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, dup := b.targets[name]; dup {
		return fmt.Errorf("add rule %s: a rule with that name exists", name)
	}
	if err := b.m.Add(name, pattern); err != nil {
		return fmt.Errorf("add rule %s: pattern %s: %w", name, pattern, err)
	}
	b.targets[name] = target
	return nil
}

// Publish delivers event to the targets of the matching rules, asynchronously like
// EventBridge, and returns the names of the rules that matched.
func (b *Bus) Publish(ctx context.Context, event []byte) ([]string, error) {
	if !json.Valid(event) {
		return nil, fmt.Errorf("publish event: not valid JSON")
	}
	b.mu.Lock()
	matches, err := b.m.Match(event)
	if err != nil {
		b.mu.Unlock()
		return nil, fmt.Errorf("match event: %w", err)
	}
	var names []string
	for _, name := range matches {
		names = append(names, name)
		b.matched[name]++
		target := b.targets[name]
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			if err := target(ctx, event); err != nil {
				b.log.ErrorContext(ctx, "event target failed", "rule", name, "error", err)
				b.mu.Lock()
				b.errs = append(b.errs, fmt.Errorf("rule %s: %w", name, err))
				b.mu.Unlock()
			}
		}()
	}
	b.mu.Unlock()
	if len(names) == 0 {
		b.log.DebugContext(ctx, "event matched no rule")
	}
	return names, nil
}

// Wait waits for every delivery so far and returns the target errors seen.
func (b *Bus) Wait() []error {
	b.wg.Wait()
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]error(nil), b.errs...)
}

// Deliveries reports how many events each rule has matched.
func (b *Bus) Deliveries() map[string]int {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make(map[string]int, len(b.matched))
	for k, v := range b.matched {
		out[k] = v
	}
	return out
}
