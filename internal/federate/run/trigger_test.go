package run

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/snaplake/snaplake/internal/federate"
)

// What started a run decides what its list step lists: a schedule every table; a
// transform's event or --now the tables it names; a published manifest its table,
// for the subscribers that take it.
func TestListFollowsTheTrigger(t *testing.T) {
	cfg := &federate.Config{
		Tables: []federate.Table{{Table: "sales.fact"}, {Table: "sales.dim"}},
		Subscribers: []federate.Subscriber{
			{Name: "all"},
			{Name: "facts", Tables: []string{"sales.fact"}},
			{Name: "dims", Tables: []string{"sales.dim"}},
		},
	}
	h := &Handler{Bucket: "lake", Config: func(context.Context) (*federate.Config, error) { return cfg, nil }, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	manifest := `{"manifest": {"bucket": "lake", "key": "` + federate.ManifestKey("sales.fact", "20261120T101700.000000Z_full_rows=1_ins=none_upd=none") + `"}}`
	tests := []struct {
		name      string
		input     string
		publish   string
		subscribe string
	}{
		{"schedule", `{"scheduledTime": "2026-11-20T10:15:00Z"}`, `["sales.fact","sales.dim"]`, `{"all":["sales.fact","sales.dim"],"dims":["sales.dim"],"facts":["sales.fact"]}`},
		{"no input", ``, `["sales.fact","sales.dim"]`, `{"all":["sales.fact","sales.dim"],"dims":["sales.dim"],"facts":["sales.fact"]}`},
		{"transform finished, all", `{}`, `["sales.fact","sales.dim"]`, `{"all":["sales.fact","sales.dim"],"dims":["sales.dim"],"facts":["sales.fact"]}`},
		{"transform finished, tables", `{"tables": ["sales.dim", "sales.unknown"]}`, `["sales.dim"]`, `{"all":["sales.dim"],"dims":["sales.dim"]}`},
		{"manifest", manifest, `["sales.fact","sales.dim"]`, `{"all":["sales.fact"],"facts":["sales.fact"]}`},
		{"UNLOAD's manifest", `{"manifest": {"bucket": "lake", "key": "federator/sales/fact/20261120T101700.000000Z_full_rows=1_ins=none_upd=none/manifest"}}`, `["sales.fact","sales.dim"]`, `{}`},
		{"another bucket", `{"manifest": {"bucket": "other", "key": "` + federate.ManifestKey("sales.fact", "20261120T101700.000000Z_full_rows=1_ins=none_upd=none") + `"}}`, `["sales.fact","sales.dim"]`, `{}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := h.Publish(context.Background(), Request{Mode: "list", Input: json.RawMessage(tc.input)})
			if err != nil {
				t.Fatal(err)
			}
			var tables []string
			for _, it := range out.(map[string]any)["items"].([]Item) {
				tables = append(tables, it.Table)
			}
			if b, _ := json.Marshal(tables); string(b) != tc.publish {
				t.Errorf("publish lists %s, want %s", b, tc.publish)
			}
			out, err = h.Subscribe(context.Background(), Request{Mode: "list", Input: json.RawMessage(tc.input)})
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(out)
			var got struct {
				Items []struct {
					Subscriber string
					Tables     []string
				}
			}
			_ = json.Unmarshal(b, &got)
			bySub := map[string][]string{}
			for _, it := range got.Items {
				bySub[it.Subscriber] = it.Tables
			}
			if b, _ := json.Marshal(bySub); string(b) != tc.subscribe {
				t.Errorf("subscribe lists %s, want %s", b, tc.subscribe)
			}
		})
	}
	for _, bad := range []string{`{"tables": "sales.fact"}`, `{"manifest": {"key": "x"}}`, `"sales.fact"`} {
		_, err := h.Publish(context.Background(), Request{Mode: "list", Input: json.RawMessage(bad)})
		var te *TriggerError
		if !errors.As(err, &te) {
			t.Errorf("input %s: error %v, want a *TriggerError", bad, err)
		}
	}
}
