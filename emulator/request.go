package emulator

import (
	"bytes"
	"encoding/json"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/asana-webhooks/asana-webhooks/asana"
)

// input holds the fields of a request body, from JSON {"data":{...}},
// a form-encoded body, or (for POST and PUT) the query string.
type input struct {
	fields  map[string]any // JSON values (UseNumber), or string / []string from forms
	options map[string]any
}

// decodeInput parses a POST or PUT body into an input. Query parameters other
// than opt_* count as fields too (one real client sends resource and target
// that way); the body wins.
func decodeInput(r *http.Request, body []byte) (*input, error) {
	in := &input{fields: map[string]any{}, options: map[string]any{}}
	for k, vs := range r.URL.Query() {
		if strings.HasPrefix(k, "opt_") || len(vs) == 0 {
			continue
		}
		in.fields[k] = formValue(vs)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return in, nil
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/x-www-form-urlencoded":
		vals, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, errorf(http.StatusBadRequest, "Could not parse request data, invalid form encoding")
		}
		for k, vs := range vals {
			if len(vs) == 0 {
				continue
			}
			if o, ok := strings.CutPrefix(k, "opt_"); ok {
				in.options[o] = vs[len(vs)-1]
				continue
			}
			in.fields[k] = formValue(vs)
		}
		return in, nil
	case "multipart/form-data":
		return nil, errorf(http.StatusBadRequest, "multipart bodies are not supported here; send JSON or a form-encoded body")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var top any
	if err := dec.Decode(&top); err != nil {
		return nil, errorf(http.StatusBadRequest, msgInvalidJSON)
	}
	if dec.More() {
		return nil, errorf(http.StatusBadRequest, msgInvalidJSON)
	}
	obj, ok := top.(map[string]any)
	if !ok {
		return nil, errorf(http.StatusBadRequest, msgInvalidRequest)
	}
	if d, present := obj["data"]; present {
		m, ok := d.(map[string]any)
		if !ok {
			return nil, errorf(http.StatusBadRequest, msgDataNotObject)
		}
		for k, v := range m {
			in.fields[k] = v
		}
	}
	if o, present := obj["options"]; present {
		m, ok := o.(map[string]any)
		if !ok {
			return nil, errorf(http.StatusBadRequest, msgOptionsNotObjct)
		}
		in.options = m
	}
	return in, nil
}

// formValue turns repeated form values into a []string, one into a string.
func formValue(vs []string) any {
	if len(vs) == 1 {
		return vs[0]
	}
	out := make([]any, len(vs))
	for i, v := range vs {
		out[i] = v
	}
	return out
}

func (in *input) has(field string) bool {
	_, ok := in.fields[field]
	return ok
}

// str returns a string field; present reports whether it was sent at all.
func (in *input) str(field string) (v string, present bool, err error) {
	raw, ok := in.fields[field]
	if !ok {
		return "", false, nil
	}
	s, ok := raw.(string)
	if !ok {
		return "", true, errorf(http.StatusBadRequest, "%s: must be a string", field)
	}
	return s, true, nil
}

// requiredStr returns a string field that must be present and non-empty.
func (in *input) requiredStr(field string) (string, error) {
	v, present, err := in.str(field)
	if err != nil {
		return "", err
	}
	if !present || v == "" {
		return "", missingInput(field)
	}
	return v, nil
}

// nullableStr returns a string field that may be null; null gives "".
func (in *input) nullableStr(field string) (v string, present bool, err error) {
	raw, ok := in.fields[field]
	if !ok {
		return "", false, nil
	}
	if raw == nil {
		return "", true, nil
	}
	if s, ok := raw.(string); ok {
		if s == "null" {
			return "", true, nil
		}
		return s, true, nil
	}
	return "", true, errorf(http.StatusBadRequest, "%s: must be a string or null", field)
}

// boolean returns a boolean field; forms send "true" and "false".
func (in *input) boolean(field string) (v, present bool, err error) {
	raw, ok := in.fields[field]
	if !ok {
		return false, false, nil
	}
	switch b := raw.(type) {
	case bool:
		return b, true, nil
	case string:
		if p, perr := strconv.ParseBool(b); perr == nil {
			return p, true, nil
		}
	}
	return false, true, errorf(http.StatusBadRequest, "%s: must be a boolean", field)
}

// gids returns a list of gids: a JSON array of strings, a comma-separated
// string, or repeated form values.
func (in *input) gids(field string) (v []string, present bool, err error) {
	raw, ok := in.fields[field]
	if !ok {
		return nil, false, nil
	}
	bad := errorf(http.StatusBadRequest, "%s: must be an array of gids", field)
	switch x := raw.(type) {
	case string:
		for _, p := range strings.Split(x, ",") {
			if p = strings.TrimSpace(p); p != "" {
				v = append(v, p)
			}
		}
	case []any:
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, true, bad
			}
			v = append(v, s)
		}
	default:
		return nil, true, bad
	}
	return v, true, nil
}

// filters decodes the webhook filters field.
func (in *input) filters() ([]asana.Filter, bool, error) {
	raw, ok := in.fields["filters"]
	if !ok {
		return nil, false, nil
	}
	if s, isStr := raw.(string); isStr {
		// A form body can only carry filters as JSON text.
		var v any
		if json.Unmarshal([]byte(s), &v) != nil {
			return nil, true, errorf(http.StatusBadRequest, "filters: must be an array of objects")
		}
		raw = v
	}
	if raw == nil {
		return []asana.Filter{}, true, nil
	}
	list, ok := raw.([]any)
	if !ok {
		return nil, true, errorf(http.StatusBadRequest, "filters: must be an array of objects")
	}
	out := make([]asana.Filter, 0, len(list))
	for i, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			return nil, true, errorf(http.StatusBadRequest, "filters[%d]: must be an object", i)
		}
		var f asana.Filter
		for k, v := range m {
			switch k {
			case "resource_type", "resource_subtype", "action":
				if v == nil {
					continue
				}
				s, ok := v.(string)
				if !ok {
					return nil, true, errorf(http.StatusBadRequest, "filters[%d].%s: must be a string", i, k)
				}
				switch k {
				case "resource_type":
					f.ResourceType = s
				case "resource_subtype":
					f.ResourceSubtype = s
				default:
					f.Action = s
				}
			case "fields":
				if v == nil {
					continue
				}
				arr, ok := v.([]any)
				if !ok {
					return nil, true, errorf(http.StatusBadRequest, "filters[%d].fields: must be an array of strings", i)
				}
				for _, fv := range arr {
					s, ok := fv.(string)
					if !ok {
						return nil, true, errorf(http.StatusBadRequest, "filters[%d].fields: must be an array of strings", i)
					}
					f.Fields = append(f.Fields, s)
				}
			default:
				return nil, true, errorf(http.StatusBadRequest, "filters[%d].%s: unknown filter attribute", i, k)
			}
		}
		out = append(out, f)
	}
	return out, true, nil
}

// optFields returns the opt_fields of a request: the query's opt_fields
// (comma-separated, possibly repeated) and the body's options.fields.
func optFields(r *http.Request, in *input) []string {
	var out []string
	add := func(s string) {
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	for _, v := range r.URL.Query()["opt_fields"] {
		add(v)
	}
	if in != nil {
		switch f := in.options["fields"].(type) {
		case string:
			add(f)
		case []any:
			for _, e := range f {
				if s, ok := e.(string); ok {
					add(s)
				}
			}
		}
	}
	return out
}

// optPretty reports whether the response should be indented.
func optPretty(r *http.Request, in *input) bool {
	q := r.URL.Query()
	if q.Has("opt_pretty") {
		v := q.Get("opt_pretty")
		return v == "" || v == "true" || v == "1"
	}
	if in != nil {
		switch p := in.options["pretty"].(type) {
		case bool:
			return p
		case string:
			return p == "" || p == "true" || p == "1"
		}
	}
	return false
}

// pathGID validates a gid path parameter.
func pathGID(r *http.Request, name string) (string, error) {
	g := r.PathValue(name)
	if !isGID(g) {
		return "", notRecognized(strings.TrimSuffix(name, "_gid"), g)
	}
	return g, nil
}

// queryGID returns a required gid query parameter.
func queryGID(r *http.Request, name string) (string, error) {
	q := r.URL.Query()
	g := q.Get(name)
	if g == "" {
		return "", missingInput(name)
	}
	if !isGID(g) {
		return "", notRecognized(name, g)
	}
	return g, nil
}
