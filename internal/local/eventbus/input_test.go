package eventbus

import (
	"testing"

	"github.com/snaplake/snaplake/events"
)

// The examples of the EventBridge UG ("Amazon EventBridge input transformation") on
// the S3 sample, and the Federator's two targets.
func TestTargetInput(t *testing.T) {
	ev, err := events.Sample("federate-manifest-created")
	if err != nil {
		t.Fatal(err)
	}
	key := "federator/sales/orders/20261120T101700.000000Z_full_rows=1234_ins=20261120T101500.123456Z_upd=none/manifest.json"
	tests := []struct {
		name      string
		inputPath string
		t         *Transformer
		want      string
	}{
		{"manifest rule", "", &Transformer{
			PathsMap: map[string]string{"detail-bucket-name": "$.detail.bucket.name", "detail-object-key": "$.detail.object.key"},
			Template: `{"manifest":{"bucket":<detail-bucket-name>,"key":<detail-object-key>}}`,
		}, `{"manifest":{"bucket":"snaplake-lake-123456789012","key":"` + key + `"}}`},
		{"variables in quotes", "", &Transformer{
			PathsMap: map[string]string{"b": "$.detail.bucket.name", "size": "$.detail.object.size"},
			Template: `{"text": "<b> holds <size> bytes", "size": <size>}`,
		}, `{"text": "snaplake-lake-123456789012 holds 2211 bytes", "size": 2211}`},
		{"input path", "$.detail.bucket", nil, `{"name":"snaplake-lake-123456789012"}`},
	}
	for _, tc := range tests {
		got, err := TargetInput(ev, tc.inputPath, tc.t)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if string(got) != tc.want {
			t.Errorf("%s: %s\nwant %s", tc.name, got, tc.want)
		}
	}
	if _, err := TargetInput(ev, "$.detail.nothing", nil); err == nil {
		t.Error("a path not in the event gave an input")
	}
}
