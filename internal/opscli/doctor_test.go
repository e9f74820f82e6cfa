package opscli

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
)

func TestDoctorUsage(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		wantUsage bool
		stderrHas string
	}{
		{name: "help", args: []string{"-h"}, stderrHas: "Usage: snaplake doctor [--stack NAME]"},
		{name: "unknown flag", args: []string{"--stak", "X"}, wantUsage: true, stderrHas: "flag provided but not defined: -stak"},
		{name: "argument", args: []string{"Snaplake"}, wantUsage: true, stderrHas: `unexpected argument "Snaplake"`},
		{name: "empty stack", args: []string{"--stack", ""}, wantUsage: true, stderrHas: "--stack must not be empty"},
		{name: "bad age", args: []string{"--max-snapshot-age", "a day"}, wantUsage: true, stderrHas: "invalid value"},
		{name: "zero age", args: []string{"--max-snapshot-age", "0s"}, wantUsage: true, stderrHas: "--max-snapshot-age must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := Doctor(context.Background(), tt.args, &stdout, &stderr)
			if got := errors.Is(err, ErrUsage); got != tt.wantUsage {
				t.Errorf("err = %v, want usage error %v", err, tt.wantUsage)
			}
			if !tt.wantUsage && err != nil {
				t.Errorf("err = %v", err)
			}
			if !strings.Contains(stderr.String(), tt.stderrHas) {
				t.Errorf("stderr %q, want it to contain %q", stderr.String(), tt.stderrHas)
			}
		})
	}
}

// TestDoctorReachesTheConfiguredEndpoint runs the command with real SDK clients
// against a local CloudFormation endpoint (AWS_ENDPOINT_URL_CLOUDFORMATION) that
// knows no stack: one failed check, reported as the command's error.
func TestDoctorReachesTheConfiguredEndpoint(t *testing.T) {
	var got url.Values
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got, _ = url.ParseQuery(string(body))
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/">
  <Error><Type>Sender</Type><Code>ValidationError</Code><Message>Stack with id Lake does not exist</Message></Error>
  <RequestId>5e1d</RequestId>
</ErrorResponse>`)
	}))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_CONFIG_FILE": filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
		"AWS_PROFILE": "", "AWS_ACCESS_KEY_ID": "snaplake-test", "AWS_SECRET_ACCESS_KEY": "snaplake-test-secret", "AWS_SESSION_TOKEN": "",
		"AWS_REGION": "eu-west-1", "AWS_EC2_METADATA_DISABLED": "true", "AWS_ENDPOINT_URL": "",
		"AWS_ENDPOINT_URL_CLOUDFORMATION": srv.URL, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "",
	} {
		t.Setenv(k, v)
	}
	var stdout, stderr bytes.Buffer
	err := Doctor(context.Background(), []string{"--stack", "Lake"}, &stdout, &stderr)
	if err == nil || err.Error() != "1 of 1 checks failed" {
		t.Fatalf("err = %v, want 1 of 1 checks failed (stdout %q)", err, stdout.String())
	}
	if got.Get("Action") != "DescribeStacks" || got.Get("StackName") != "Lake" {
		t.Errorf("request %v, want DescribeStacks of Lake", got)
	}
	if want := "FAIL  stack        Lake: does not exist in this account and region. Fix: "; !strings.HasPrefix(stdout.String(), want) {
		t.Errorf("stdout %q, want it to start with %q", stdout.String(), want)
	}
}
