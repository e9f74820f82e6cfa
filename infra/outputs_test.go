package main

import (
	"testing"

	"github.com/snaplake/snaplake/internal/doctor"
)

// TestDoctorReadsTheOutputsTheStackWrites: `snaplake doctor` reports a stack that
// lacks an output it reads as broken, so every output it reads must be one the
// stack writes: the export's always, the ingestion's and the Federator's exactly when
// their context sections are set (doctor tells whether they are deployed from them).
func TestDoctorReadsTheOutputsTheStackWrites(t *testing.T) {
	for _, c := range []struct {
		name             string
		s                *synthesized
		ingest, federate bool
	}{
		{"export only", defaultStack(t), false, false},
		{"ingest", ingestStackFor(t, "vpc"), true, false},
		{"federate", federateStackFor(t, "federate"), false, true},
	} {
		outputs := c.s.json["Outputs"].(map[string]any)
		for _, group := range []struct {
			names []string
			want  bool
		}{{doctor.RequiredOutputs, true}, {doctor.IngestOutputs, c.ingest}, {doctor.FederateOutputs, c.federate}} {
			for _, o := range group.names {
				if _, ok := outputs[o]; ok != group.want {
					t.Errorf("%s: template has output %s: %v, want %v", c.name, o, ok, group.want)
				}
			}
		}
	}
}
