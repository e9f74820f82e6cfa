package lambdamain

import (
	"context"
	"encoding/json"
	"testing"
)

func TestHandlerDecodesThePayload(t *testing.T) {
	type in struct{ Mode string }
	h := Handler(func(_ context.Context, i in) (string, error) { return "mode " + i.Mode, nil })
	out, err := h(context.Background(), json.RawMessage(`{"Mode":"list"}`))
	if err != nil || out != "mode list" {
		t.Fatalf("Handler = %v, %v; want mode list", out, err)
	}
	if _, err := h(context.Background(), json.RawMessage(`[1]`)); err == nil {
		t.Fatal("a payload that is not the input type: no error")
	}
}
