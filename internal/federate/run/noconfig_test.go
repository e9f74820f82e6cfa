package run

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/snaplake/snaplake/internal/config"
	"github.com/snaplake/snaplake/internal/federate/redshift"
	"github.com/snaplake/snaplake/internal/local/s3server"
	"github.com/snaplake/snaplake/internal/local/stepfunctions"
	"github.com/snaplake/snaplake/internal/local/testenv"
	"github.com/snaplake/snaplake/statemachines"
)

// TestSchedulesBeforeTheConfig runs both workflows, as their schedules do from the
// deploy on, before config/snaplake.yaml is uploaded: each execution succeeds,
// notifies nothing and logs that there is nothing to do. A config that is there but
// does not parse still fails the run and notifies.
func TestSchedulesBeforeTheConfig(t *testing.T) {
	testenv.NeedsNode(t)
	ctx := context.Background()
	srv, err := s3server.StartFake()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	if err := srv.CreateBucket(ctx, "lake"); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	var mu sync.Mutex
	h := &Handler{S3: srv.Client(), Bucket: "lake", Log: slog.New(slog.NewTextHandler(&logs, nil)),
		Open: func(ctx context.Context, url string) (redshift.Warehouse, error) {
			t.Errorf("a run without a config opened warehouse %s", url)
			return nil, context.Canceled
		}}
	var notes []string
	runner := &stepfunctions.Runner{RetryInterval: 50 * time.Millisecond, Tasks: func(ctx context.Context, call stepfunctions.TaskCall) (json.RawMessage, error) {
		switch call.Resource {
		case "arn:aws:states:::lambda:invoke":
			var in struct {
				FunctionName string
				Payload      Request
			}
			if err := json.Unmarshal(call.Input, &in); err != nil {
				return nil, err
			}
			serve := h.Publish
			if in.FunctionName == subscribeArn {
				serve = h.Subscribe
			}
			out, err := serve(ctx, in.Payload)
			if err != nil {
				return nil, stepfunctions.LambdaError(err)
			}
			return json.Marshal(out)
		case "arn:aws:states:::sns:publish":
			var in struct{ Subject, Message string }
			_ = json.Unmarshal(call.Input, &in)
			mu.Lock()
			notes = append(notes, in.Subject+": "+in.Message)
			mu.Unlock()
			return json.RawMessage(`{"MessageId":"1"}`), nil
		}
		return nil, &stepfunctions.TaskError{Name: "States.TaskFailed", Cause: "no stand-in for " + call.Resource}
	}}
	// No config: the lists are empty, and no item execution is started.
	subs := map[string]string{statemachines.PublishFunctionArn: publishArn, statemachines.SubscribeFunctionArn: subscribeArn, statemachines.NotificationTopicArn: topicArn,
		statemachines.ItemStateMachineArn: "arn:aws:states:us-east-1:000000000000:stateMachine:item"}
	run := func(def []byte, name string) stepfunctions.Result {
		t.Helper()
		rendered, err := statemachines.Render(def, subs)
		if err != nil {
			t.Fatal(err)
		}
		e, err := runner.Start(ctx, name, rendered, []byte(`{"scheduledTime":"2026-12-03T10:00:00Z"}`))
		if err != nil {
			t.Fatal(err)
		}
		res, err := e.Wait()
		if err != nil {
			t.Fatal(err)
		}
		return res
	}

	for name, def := range map[string][]byte{"publish": statemachines.FederatePublish, "subscribe": statemachines.FederateSubscribe} {
		res := run(def, name+"-before-config")
		if res.Status != stepfunctions.StatusSucceeded {
			t.Errorf("%s before the config: %s %s %s", name, res.Status, res.Error, res.Cause)
		}
	}
	if len(notes) > 0 {
		t.Errorf("runs before the config notified %q", notes)
	}
	mu.Lock()
	if got := strings.Count(logs.String(), "no config yet: nothing to do"); got < 2 {
		t.Errorf("the runs logged %d 'no config yet' lines, want at least one per run:\n%s", got, logs.String())
	}
	mu.Unlock()

	// A config that does not parse: the run fails at its start and notifies.
	if _, err := srv.Client().PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("lake"), Key: aws.String(config.S3Key), Body: strings.NewReader("federate: [")}); err != nil {
		t.Fatal(err)
	}
	bad := run(statemachines.FederateSubscribe, "subscribe-bad-config")
	if bad.Status != stepfunctions.StatusFailed || bad.Error != "RefusedError" || len(notes) != 1 {
		t.Errorf("subscribe with a broken config: %s %s, notifications %q", bad.Status, bad.Error, notes)
	}

	// A mistake in another capability's section is not the Federator's: its runs go on.
	if _, err := srv.Client().PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("lake"), Key: aws.String(config.S3Key), Body: strings.NewReader("ingest: {source: 5}\nfederate:\n  tables: [{table: sales.orders}]\n")}); err != nil {
		t.Fatal(err)
	}
	if res := run(statemachines.FederateSubscribe, "subscribe-ingest-broken"); res.Status != stepfunctions.StatusSucceeded {
		t.Errorf("subscribe with a broken ingest section (and no subscribers): %s %s %s", res.Status, res.Error, res.Cause)
	}
}
