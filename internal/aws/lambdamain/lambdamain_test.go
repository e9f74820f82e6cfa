package lambdamain

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/snaplake/snaplake/internal/deploy"
)

func TestNewLoggerHonoursLogLevel(t *testing.T) {
	for _, c := range []struct {
		level       string
		debug, info bool
	}{
		{"", false, true},
		{"DEBUG", true, true},
		{"debug", true, true},
		{"INFO", false, true},
		{"WARN", false, false},
		{"ERROR", false, false},
	} {
		var buf bytes.Buffer
		log, err := NewLogger(&buf, func(k string) string {
			if k == deploy.EnvLogLevel {
				return c.level
			}
			return ""
		}, deploy.FnRelocate)
		if err != nil {
			t.Fatalf("%s=%q: %v", deploy.EnvLogLevel, c.level, err)
		}
		log.Debug("d")
		log.Info("i")
		var msgs []string
		for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
			if line == "" {
				continue
			}
			var rec map[string]any
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatalf("%s=%q: line %q is not JSON: %v", deploy.EnvLogLevel, c.level, line, err)
			}
			if rec["function"] != deploy.FnRelocate {
				t.Errorf("%s=%q: line %q does not name the function", deploy.EnvLogLevel, c.level, line)
			}
			msgs = append(msgs, rec["msg"].(string))
		}
		got := strings.Join(msgs, ",")
		var want []string
		if c.debug {
			want = append(want, "d")
		}
		if c.info {
			want = append(want, "i")
		}
		if got != strings.Join(want, ",") {
			t.Errorf("%s=%q: logged %q, want %q", deploy.EnvLogLevel, c.level, got, strings.Join(want, ","))
		}
	}
}

func TestNewLoggerRejectsAnUnknownLevel(t *testing.T) {
	_, err := NewLogger(&bytes.Buffer{}, func(string) string { return "LOUD" }, deploy.FnRelocate)
	var lerr *LogLevelError
	if !errors.As(err, &lerr) || lerr.Value != "LOUD" || !strings.Contains(err.Error(), deploy.EnvLogLevel) {
		t.Fatalf("NewLogger with %s=LOUD: %v, want a LogLevelError naming the variable", deploy.EnvLogLevel, err)
	}
}
