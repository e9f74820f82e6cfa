package eventbus

import (
	"encoding/json"
	"fmt"
	"strings"

	"quamina.net/go/quamina"
)

// EventBridge's default bus has operators quamina v1.4.0 lacks: suffix and wildcard
// ("Comparison operators for use in event patterns", EventBridge UG). Both are
// rewritten into quamina's shellstyle, whose one operator "*" matches any string (the
// regular expression .*), as EventBridge's wildcard does. What the rewrite cannot say
// exactly is refused with *UnsupportedPatternError rather than matched differently:
// a pattern the offline bus takes is matched as EventBridge matches it.
//
// EventBridge's rules for wildcard values, from its matching library (aws/event-ruler
// README, "Wildcard matching"): "A single value can contain zero to many wildcard
// characters, but consecutive wildcard characters are not allowed. To match the
// asterisk character specifically, a wildcard character can be escaped with a
// backslash. Two consecutive backslashes ... represents the actual backslash
// character. A backslash escaping any character other than asterisk or backslash is
// not allowed."

// InvalidPatternError is a pattern EventBridge itself refuses (PutRule's
// InvalidEventPatternException).
type InvalidPatternError struct{ Reason string }

func (e *InvalidPatternError) Error() string { return "invalid event pattern: " + e.Reason }

// UnsupportedPatternError is a valid EventBridge pattern the offline bus cannot match
// exactly: the offline run refuses it rather than route differently than AWS.
type UnsupportedPatternError struct{ Reason string }

func (e *UnsupportedPatternError) Error() string {
	return "event pattern not supported by the offline bus: " + e.Reason
}

// Translate rewrites an EventBridge pattern into the quamina pattern that matches the
// same events.
func Translate(pattern []byte) ([]byte, error) {
	var p any
	if err := json.Unmarshal(pattern, &p); err != nil {
		return nil, &InvalidPatternError{Reason: err.Error()}
	}
	obj, ok := p.(map[string]any)
	if !ok {
		return nil, &InvalidPatternError{Reason: "a pattern is a JSON object"}
	}
	out, err := translate(obj)
	if err != nil {
		return nil, err
	}
	return json.Marshal(out)
}

func translate(v any) (any, error) {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			f, err := translate(e)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			out[k] = f
		}
		return out, nil
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			f, err := translateValue(e)
			if err != nil {
				return nil, err
			}
			out[i] = f
		}
		return out, nil
	}
	return v, nil
}

// translateValue rewrites one value of a leaf's list.
func translateValue(v any) (any, error) {
	op, ok := v.(map[string]any)
	if !ok || len(op) != 1 {
		return v, nil
	}
	for name, arg := range op {
		switch name {
		case "suffix":
			s, ok := arg.(string)
			if !ok {
				// {"suffix": {"equals-ignore-case": ...}}
				return nil, &UnsupportedPatternError{Reason: fmt.Sprintf("suffix %v (only a plain string suffix)", arg)}
			}
			if strings.Contains(s, "*") {
				return nil, &UnsupportedPatternError{Reason: fmt.Sprintf("suffix %q contains *, which shellstyle cannot match literally", s)}
			}
			return map[string]any{"shellstyle": "*" + s}, nil
		case "wildcard":
			s, ok := arg.(string)
			if !ok {
				return nil, &InvalidPatternError{Reason: fmt.Sprintf("wildcard %v is not a string", arg)}
			}
			if err := checkWildcard(s); err != nil {
				return nil, err
			}
			return map[string]any{"shellstyle": s}, nil
		case "anything-but":
			if m, ok := arg.(map[string]any); ok {
				for k := range m {
					if k == "suffix" || k == "wildcard" || k == "equals-ignore-case" {
						return nil, &UnsupportedPatternError{Reason: "anything-but " + k}
					}
				}
			}
		}
	}
	return v, nil
}

func checkWildcard(s string) error {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if i+1 < len(s) && (s[i+1] == '*' || s[i+1] == '\\') {
				return &UnsupportedPatternError{Reason: fmt.Sprintf("wildcard %q escapes a character: shellstyle has no escape", s)}
			}
			return &InvalidPatternError{Reason: fmt.Sprintf("wildcard %q: a backslash may only escape * or \\", s)}
		case '*':
			if i+1 < len(s) && s[i+1] == '*' {
				return &InvalidPatternError{Reason: fmt.Sprintf("wildcard %q: consecutive wildcard characters are not allowed", s)}
			}
		}
	}
	return nil
}

// Matcher matches events against named EventBridge patterns, as the default bus does.
type Matcher struct{ q *quamina.Quamina }

// NewMatcher returns a matcher without patterns. It is not safe for concurrent use.
func NewMatcher() (*Matcher, error) {
	q, err := quamina.New()
	if err != nil {
		return nil, fmt.Errorf("create event matcher: %w", err)
	}
	return &Matcher{q: q}, nil
}

// Add adds an EventBridge pattern under name.
func (m *Matcher) Add(name string, pattern []byte) error {
	q, err := Translate(pattern)
	if err != nil {
		return err
	}
	if err := m.q.AddPattern(name, string(q)); err != nil {
		return &InvalidPatternError{Reason: err.Error()}
	}
	return nil
}

// Match returns the names of the patterns event matches.
func (m *Matcher) Match(event []byte) ([]string, error) {
	got, err := m.q.MatchesForEvent(event)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(got))
	for _, x := range got {
		names = append(names, x.(string))
	}
	return names, nil
}
