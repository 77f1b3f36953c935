package emulator

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/asana-webhooks/asana-webhooks/asana"
)

// kv is one top-level key of a response, in order.
type kv struct {
	key   string
	value any
}

// result is what an API handler answers.
type result struct {
	status   int // 0 means 200
	data     any
	extra    []kv // keys after "data", in order
	location string
}

// encodeJSON marshals v without HTML escaping, compact.
func encodeJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// renderBody builds the JSON body of a result, applying the opt_fields tree
// (nil: every field) to data.
func renderBody(res *result, fields fieldTree) ([]byte, error) {
	data := res.data
	if len(fields) > 0 && data != nil {
		b, err := encodeJSON(data)
		if err != nil {
			return nil, err
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		var generic any
		if err := dec.Decode(&generic); err != nil {
			return nil, err
		}
		data = selectFields(generic, fields)
	}
	var buf bytes.Buffer
	buf.WriteString(`{"data":`)
	b, err := encodeJSON(data)
	if err != nil {
		return nil, err
	}
	buf.Write(b)
	for _, e := range res.extra {
		k, _ := encodeJSON(e.key)
		buf.WriteByte(',')
		buf.Write(k)
		buf.WriteByte(':')
		v, err := encodeJSON(e.value)
		if err != nil {
			return nil, err
		}
		buf.Write(v)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// fieldTree is a parsed set of opt_fields: each key maps to its sub-paths; a
// nil subtree means "the whole value".
type fieldTree map[string]fieldTree

// Bounds of opt_fields: every group "(a|b)" multiplies the paths, so a
// short query could otherwise expand to billions of them.
const (
	maxFieldPaths   = 1000 // paths after expanding groups, all fields together
	maxFieldPathLen = 512  // bytes of one path as sent
)

// parseFieldPaths turns "a,b.c,this.(d|e).f" paths into a tree. It refuses
// (with a 400) paths that are too long or expand to too many.
func parseFieldPaths(paths []string) (fieldTree, *apiError) {
	if len(paths) == 0 {
		return nil, nil
	}
	tooMany := errorf(http.StatusBadRequest, "opt_fields: Too many fields (more than %d after expanding groups)", maxFieldPaths)
	t := fieldTree{}
	n := 0
	for _, p := range paths {
		if len(p) > maxFieldPathLen {
			return nil, errorf(http.StatusBadRequest, "opt_fields: Field path longer than %d bytes", maxFieldPathLen)
		}
		p = strings.TrimPrefix(p, "this.")
		exps, ok := expandGroups(p, maxFieldPaths-n)
		if !ok {
			return nil, tooMany
		}
		n += len(exps)
		for _, exp := range exps {
			t.add(strings.Split(exp, "."))
		}
	}
	return t, nil
}

// expandGroups expands Asana's group operator: "a.(b|c).d" -> a.b.d, a.c.d.
// It reports false when the expansion would exceed budget paths.
func expandGroups(p string, budget int) ([]string, bool) {
	if budget <= 0 {
		return nil, false
	}
	i := strings.IndexByte(p, '(')
	if i < 0 {
		return []string{p}, true
	}
	j := strings.IndexByte(p[i:], ')')
	if j < 0 {
		return []string{p}, true
	}
	j += i
	var out []string
	for _, alt := range strings.Split(p[i+1:j], "|") {
		sub, ok := expandGroups(p[:i]+alt+p[j+1:], budget-len(out))
		if !ok {
			return nil, false
		}
		out = append(out, sub...)
	}
	return out, true
}

func (t fieldTree) add(parts []string) {
	if len(parts) == 0 || parts[0] == "" {
		return
	}
	k := parts[0]
	if len(parts) == 1 {
		// The whole value wins over any narrower path.
		t[k] = nil
		return
	}
	sub, seen := t[k]
	if seen && sub == nil {
		return
	}
	if !seen {
		sub = fieldTree{}
		t[k] = sub
	}
	sub.add(parts[1:])
}

// selectFields keeps only the selected fields (and gid) of objects, applying
// the same selection to every element of arrays.
func selectFields(v any, t fieldTree) any {
	switch x := v.(type) {
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = selectFields(e, t)
		}
		return out
	case map[string]any:
		out := map[string]any{}
		if g, ok := x["gid"]; ok {
			out["gid"] = g
		}
		for k, sub := range t {
			val, ok := x[k]
			if !ok {
				continue
			}
			if sub == nil {
				out[k] = val
				continue
			}
			out[k] = selectFields(val, sub)
		}
		return out
	}
	return v
}

// writeJSON writes a JSON body with Asana's content type.
func writeJSON(w http.ResponseWriter, status int, body []byte, pretty bool) {
	if pretty {
		var buf bytes.Buffer
		if json.Indent(&buf, body, "", "  ") == nil {
			body = buf.Bytes()
		}
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeError writes e as Asana's error envelope.
func writeError(w http.ResponseWriter, e *apiError, pretty bool) {
	if e.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.retryAfter))
	}
	body, err := encodeJSON(e.envelope())
	if err != nil {
		body = []byte(`{"errors":[{"message":"Server Error","help":"` + helpText + `","phrase":"` + phrase() + `"}]}`)
	}
	writeJSON(w, e.status, body, pretty)
}

// paging is a request's limit and offset.
type paging struct {
	limit  int // 0: not sent
	offset int
}

// offsetToken is an opaque pagination token.
func offsetToken(n int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("emu-offset:" + strconv.Itoa(n)))
}

func parseOffsetToken(s string) (int, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return 0, false
	}
	rest, ok := strings.CutPrefix(string(b), "emu-offset:")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// parsePaging reads limit and offset from the query.
func parsePaging(r *http.Request) (paging, error) {
	q := r.URL.Query()
	var p paging
	if q.Has("limit") {
		n, err := strconv.Atoi(q.Get("limit"))
		if err != nil || n < 1 || n > 100 {
			return p, errorf(http.StatusBadRequest, "limit: Must be an integer between 1 and 100")
		}
		p.limit = n
	}
	if q.Has("offset") {
		n, ok := parseOffsetToken(q.Get("offset"))
		if !ok {
			return p, errorf(http.StatusBadRequest, "offset: Your pagination token is invalid")
		}
		p.offset = n
	}
	return p, nil
}

// pageResult slices items per paging and adds next_page when a limit was
// sent, as Asana does.
func pageResult[T any](r *http.Request, p paging, items []T) *result {
	start := min(p.offset, len(items))
	if p.limit == 0 {
		return &result{data: items[start:]}
	}
	end := min(start+p.limit, len(items))
	res := &result{data: items[start:end]}
	var next *asana.NextPage
	if end < len(items) {
		q := r.URL.Query()
		q.Set("offset", offsetToken(end))
		q.Set("limit", strconv.Itoa(p.limit))
		path := strings.TrimPrefix(r.URL.Path, apiPrefix) + "?" + q.Encode()
		next = &asana.NextPage{Offset: offsetToken(end), Path: path, URI: baseURL(r) + path}
	}
	res.extra = append(res.extra, kv{"next_page", next})
	return res
}

// baseURL returns the API base URL as the client reached it.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	u := url.URL{Scheme: scheme, Host: r.Host, Path: apiPrefix}
	return u.String()
}
