package callback

import (
	"context"
	"log/slog"
	"time"
)

// AwaitRequest is what a waitForTaskToken state sends to the await function.
type AwaitRequest struct {
	Kind      string `json:"kind"`
	Key       string `json:"key"`
	Token     string `json:"token"`
	Execution string `json:"execution"`
}

// AwaitResult acknowledges the stored wait (the execution itself waits for the callback).
type AwaitResult struct {
	Kind string `json:"kind"`
	Key  string `json:"key"`
}

// AwaitHandler stores a task token under its correlation key.
type AwaitHandler struct {
	Store Store
	Log   *slog.Logger
	Now   func() time.Time // defaults to time.Now
}

// Handle stores the wait. A wait already stored for the key is replaced (and logged):
// the newer execution is the one that can still be resumed.
func (h AwaitHandler) Handle(ctx context.Context, req AwaitRequest) (AwaitResult, error) {
	now := time.Now
	if h.Now != nil {
		now = h.Now
	}
	if err := validate(req.Kind, req.Key); err != nil {
		return AwaitResult{}, err
	}
	if prev, ok, err := h.Store.Get(ctx, req.Kind, req.Key); err != nil {
		return AwaitResult{}, err
	} else if ok && prev.Execution != req.Execution {
		h.Log.WarnContext(ctx, "replacing the wait of another execution", "kind", req.Kind, "key", req.Key,
			"previousExecution", prev.Execution, "execution", req.Execution)
	}
	w := Wait{Kind: req.Kind, Key: req.Key, Token: req.Token, Execution: req.Execution, RegisteredAt: now().UTC()}
	if err := h.Store.Put(ctx, w); err != nil {
		return AwaitResult{}, err
	}
	h.Log.InfoContext(ctx, "waiting for callback", "kind", req.Kind, "key", req.Key, "execution", req.Execution)
	return AwaitResult{Kind: req.Kind, Key: req.Key}, nil
}
