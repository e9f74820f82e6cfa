package lambdamain

import (
	"context"
	"encoding/json"
)

// Func is a Lambda handler as the Lambda runtime and the offline run both invoke
// it: the raw JSON payload in, a result to marshal out.
type Func func(ctx context.Context, payload json.RawMessage) (any, error)

// Handler adapts a typed handler: it decodes the payload into In, as the Lambda
// runtime does for a typed handler, and calls h. It is the one place that does, for
// every function and for the offline run.
func Handler[In, Out any](h func(context.Context, In) (Out, error)) Func {
	return func(ctx context.Context, payload json.RawMessage) (any, error) {
		var in In
		if err := json.Unmarshal(payload, &in); err != nil {
			return nil, err
		}
		return h(ctx, in)
	}
}
