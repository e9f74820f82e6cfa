package main

import (
	"slices"
	"testing"

	"github.com/snaplake/snaplake/internal/deploy"
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
	// The source outputs: each exactly when its list is configured (an output's
	// value cannot be empty), and at least one of them.
	for _, c := range []struct {
		name               string
		s                  *synthesized
		instances, cluster bool
	}{
		{"instances", defaultStack(t), true, false},
		{"instances and clusters", synth(t, testConfig(t, false)), true, true},
	} {
		outputs := c.s.json["Outputs"].(map[string]any)
		for o, want := range map[string]bool{deploy.OutputDBInstanceIDs: c.instances, deploy.OutputDBClusterIDs: c.cluster} {
			if _, ok := outputs[o]; ok != want {
				t.Errorf("%s: template has output %s: %v, want %v", c.name, o, ok, want)
			}
		}
	}
	if !slices.Equal(doctor.SourceOutputs, deploy.SourceOutputs) {
		t.Errorf("doctor reads the sources from %v, the stack writes %v", doctor.SourceOutputs, deploy.SourceOutputs)
	}
}
