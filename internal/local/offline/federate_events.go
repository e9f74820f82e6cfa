package offline

import (
	"context"
	"errors"
	"fmt"
	"sync"

	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/snaplake/snaplake/events"
	"github.com/snaplake/snaplake/internal/local/contract"
	"github.com/snaplake/snaplake/internal/local/eventbus"
	"github.com/snaplake/snaplake/internal/local/iam"
	"github.com/snaplake/snaplake/internal/local/stepfunctions"
)

// The Federator's event rules, offline: the contract's rules (their deployed patterns,
// targets, roles and inputs) on the account's default bus, where the lake bucket's
// Object Created events arrive from the S3 endpoint and PutEvents puts the
// transform's. Each target starts its workflow as the rule's role, as EventBridge
// does; an execution is named after the event, so a re-delivered event (EventBridge
// delivers at least once) starts nothing new.

// eventRuns are the executions the rules started.
type eventRuns struct {
	mu    sync.Mutex
	wg    sync.WaitGroup
	execs []EventExecution
	errs  []error
}

// EventExecution is an execution a rule started, and its result once it ended.
type EventExecution struct {
	Rule      string
	Workflow  string // deploy.FnPublish or deploy.FnSubscribe
	Execution *stepfunctions.Execution
	Result    stepfunctions.Result
}

// addRules routes the contract's Federator rules on the account's bus.
func (f *Federate) addRules() error {
	for _, rule := range f.c.Rules {
		if len(rule.Targets) != 1 {
			return fmt.Errorf("rule %s has %d targets; the offline bus routes one", rule.Name, len(rule.Targets))
		}
		target := rule.Targets[0]
		principal, err := f.roleNamed(target.RoleArn)
		if err != nil {
			return fmt.Errorf("rule %s: %w", rule.Name, err)
		}
		var def []byte
		var workflow string
		switch target.Arn {
		case f.c.PublishStateMachineArn:
			def, workflow = f.publish, "publish"
		case f.c.SubscribeStateMachineArn:
			def, workflow = f.subscribe, "subscribe"
		default:
			return fmt.Errorf("rule %s targets %s, not a Federator workflow", rule.Name, target.Arn)
		}
		var tr *eventbus.Transformer
		if it := target.InputTransformer; it != nil {
			tr = &eventbus.Transformer{PathsMap: it.InputPathsMap, Template: it.InputTemplate}
		}
		name := rule.Name
		if err := f.acct.Bus.AddRule(name, rule.Pattern, func(ctx context.Context, event []byte) error {
			return f.startFromEvent(ctx, name, workflow, principal, target, def, event, tr)
		}); err != nil {
			return err
		}
	}
	return nil
}

// roleNamed is the contract's principal name of the role with that ARN.
func (f *Federate) roleNamed(arn string) (string, error) {
	for name, r := range f.acct.Contract.Roles {
		if r.Arn == arn {
			return name, nil
		}
	}
	return "", fmt.Errorf("no role of the contract has the ARN %s", arn)
}

func (f *Federate) startFromEvent(ctx context.Context, rule, workflow, principal string, target contract.RuleTarget, def, event []byte, tr *eventbus.Transformer) error {
	env, err := events.ParseEnvelope(event)
	if err != nil {
		return err
	}
	input, err := eventbus.TargetInput(event, target.InputPath, tr)
	if err != nil {
		return fmt.Errorf("rule %s: %w", rule, err)
	}
	if err := f.acct.authorize(principal, "SFN", "StartExecution", iam.Request{Action: "states:StartExecution", Resource: target.Arn}); err != nil {
		f.events.mu.Lock()
		f.events.errs = append(f.events.errs, err)
		f.events.mu.Unlock()
		return err
	}
	// EventBridge names the execution after the event and the target.
	exec, err := f.Runner.Start(context.WithoutCancel(ctx), env.ID+"_Target0", def, input)
	if err != nil {
		var dup *sfntypes.ExecutionAlreadyExists
		if errors.As(err, &dup) {
			return nil
		}
		return fmt.Errorf("rule %s: start the %s workflow: %w", rule, workflow, err)
	}
	f.events.mu.Lock()
	for _, e := range f.events.execs {
		if e.Execution == exec { // the same event again: the same execution
			f.events.mu.Unlock()
			return nil
		}
	}
	i := len(f.events.execs)
	f.events.execs = append(f.events.execs, EventExecution{Rule: rule, Workflow: workflow, Execution: exec})
	f.events.wg.Add(1)
	f.events.mu.Unlock()
	f.log.InfoContext(ctx, "rule started an execution", "rule", rule, "workflow", workflow, "execution", exec.ARN())
	go func() {
		defer f.events.wg.Done()
		res, err := exec.Wait()
		f.events.mu.Lock()
		f.events.execs[i].Result = res
		if err != nil {
			f.events.errs = append(f.events.errs, err)
		}
		f.events.mu.Unlock()
	}()
	return nil
}

// PutEvents puts an event on the account's default bus, as the transform's
// PutEvents does (the caller's own permission, outside the stack, is not checked).
func (f *Federate) PutEvents(ctx context.Context, event []byte) ([]string, error) {
	return f.acct.Bus.Publish(ctx, event)
}

// WaitEvents waits until the chain the events started has run out: every delivery,
// every execution a rule started, and the deliveries those executions caused (a
// published manifest's event), and returns the executions and the errors seen.
func (f *Federate) WaitEvents() ([]EventExecution, []error) {
	for {
		busErrs := f.acct.Bus.Wait()
		f.events.wg.Wait()
		f.events.mu.Lock()
		n := len(f.events.execs)
		f.events.mu.Unlock()
		f.acct.Bus.Wait()
		f.events.mu.Lock()
		done := len(f.events.execs) == n
		out := append([]EventExecution(nil), f.events.execs...)
		errs := append(append([]error(nil), busErrs...), f.events.errs...)
		f.events.mu.Unlock()
		if done {
			return out, errs
		}
	}
}
