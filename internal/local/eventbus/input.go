package eventbus

import (
	"encoding/json"
	"fmt"
	"strings"
)

// A rule's target receives the whole event, the part InputPath selects, or what an
// input transformer makes of it (EventBridge UG, "Amazon EventBridge input
// transformation"): each InputPathsMap entry is a JSON path in dot notation, and its
// value replaces <name> in InputTemplate. A placeholder between quotes takes the
// value's text; elsewhere the value as JSON ("The InputTemplate can also be valid
// JSON with variables in quotes or out", API InputTransformer).

// Transformer is a target's input transformer.
type Transformer struct {
	PathsMap map[string]string
	Template string
}

// TargetInput is what a target with inputPath or t (at most one) receives for event.
func TargetInput(event []byte, inputPath string, t *Transformer) ([]byte, error) {
	var ev any
	if err := json.Unmarshal(event, &ev); err != nil {
		return nil, fmt.Errorf("target input: the event is not JSON: %w", err)
	}
	switch {
	case t != nil:
		vals := map[string]any{}
		for name, path := range t.PathsMap {
			v, ok := lookup(ev, path)
			if !ok {
				return nil, fmt.Errorf("target input: %s (%s) is not in the event", path, name)
			}
			vals[name] = v
		}
		out := fillTemplate(t.Template, vals)
		if strings.HasPrefix(strings.TrimSpace(t.Template), "{") && !json.Valid([]byte(out)) {
			return nil, fmt.Errorf("target input: the transformed input is not JSON: %s", out)
		}
		return []byte(out), nil
	case inputPath != "":
		v, ok := lookup(ev, inputPath)
		if !ok {
			return nil, fmt.Errorf("target input: %s is not in the event", inputPath)
		}
		return json.Marshal(v)
	}
	return event, nil
}

// lookup follows a JSON path in dot notation ($.detail.bucket.name).
func lookup(v any, path string) (any, bool) {
	rest, ok := strings.CutPrefix(path, "$")
	if !ok {
		return nil, false
	}
	for _, k := range strings.Split(strings.TrimPrefix(rest, "."), ".") {
		if k == "" {
			continue
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[k]; !ok {
			return nil, false
		}
	}
	return v, true
}

// fillTemplate replaces each <name> of vals in tmpl: inside a JSON string with the
// value's text, escaped (a string's characters, JSON otherwise); outside with the
// value as JSON.
func fillTemplate(tmpl string, vals map[string]any) string {
	var b strings.Builder
	inString := false
	for i := 0; i < len(tmpl); i++ {
		c := tmpl[i]
		if c == '<' {
			if j := strings.IndexByte(tmpl[i:], '>'); j > 0 {
				if v, ok := vals[tmpl[i+1:i+j]]; ok {
					js, _ := json.Marshal(v)
					if inString {
						text, isString := v.(string)
						if !isString {
							text = string(js)
						}
						q, _ := json.Marshal(text)
						b.Write(q[1 : len(q)-1])
					} else {
						b.Write(js)
					}
					i += j
					continue
				}
			}
		}
		if c == '"' {
			inString = !inString
		} else if c == '\\' && inString && i+1 < len(tmpl) {
			b.WriteByte(c)
			i++
			c = tmpl[i]
		}
		b.WriteByte(c)
	}
	return b.String()
}
