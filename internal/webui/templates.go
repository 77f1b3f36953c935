package webui

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/asana-webhooks/asana-webhooks/asana"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// pageNames are the templates that are whole pages; each is parsed with the
// layout and the partials.
var pageNames = []string{"webhooks", "create", "job", "confirm", "events", "delivery", "error"}

// templates holds one parsed set per page; partials are in every set.
type templates struct {
	pages map[string]*template.Template
}

var funcs = template.FuncMap{
	"rfc3339": func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) },
	"utc":     utc,
	"at": func(t *asana.Time) time.Time {
		if t == nil {
			return time.Time{}
		}
		return t.Time
	},
	"join":   strings.Join,
	"inc":    func(i int) int { return i + 1 },
	"filter": filterText,
	"short": func(s string) string {
		if len(s) > 8 {
			return s[:8]
		}
		return s
	},
	"count": count,
}

// count writes n with the singular or plural noun: "1 heartbeat", "2 heartbeats".
func count(n int64, singular, plural string) string {
	if n == 1 {
		return "1 " + singular
	}
	return strconv.FormatInt(n, 10) + " " + plural
}

// parseTemplates parses the embedded templates.
func parseTemplates() (*templates, error) {
	t := &templates{pages: make(map[string]*template.Template)}
	for _, name := range pageNames {
		p, err := template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/partials.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("parse template %s: %w", name, err)
		}
		t.pages[name] = p
	}
	return t, nil
}

// ExecuteTemplate runs a partial (from any page's set, since all carry them).
func (t *templates) ExecuteTemplate(buf *bytes.Buffer, name string, data any) error {
	return t.pages["events"].ExecuteTemplate(buf, name, data)
}

// page is what the layout needs from every page.
type page struct {
	Title string
	// Nav is the menu entry to mark as current.
	Nav string
	// Refresh, if set, is the id of the element that the page's script
	// refreshes every RefreshSeconds.
	Refresh        string
	RefreshSeconds int
}

// errorPage is the data of the error page.
type errorPage struct {
	page
	Status  int
	Message string
}

// render writes a whole page. A template failure is logged and becomes a
// plain 500, since the page may be half written.
func (u *UI) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	t, ok := u.tmpl.pages[name]
	if !ok {
		u.log.Error("no such template", "name", name)
		http.Error(w, "500 internal server error", http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", data); err != nil {
		u.log.Error("render page", "name", name, "path", r.URL.Path, "err", err)
		http.Error(w, "500 internal server error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// staticHandler serves the embedded assets under /static/.
func staticHandler() (http.Handler, error) {
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, fmt.Errorf("static assets: %w", err)
	}
	return http.StripPrefix("/static/", http.FileServerFS(sub)), nil
}

// filterText writes a filter as resource_type:action[:fields].
func filterText(f asana.Filter) string {
	rt, action := f.ResourceType, f.Action
	if rt == "" {
		rt = "*"
	}
	if action == "" {
		action = "*"
	}
	s := rt + ":" + action
	if f.ResourceSubtype != "" {
		s = rt + "(" + f.ResourceSubtype + "):" + action
	}
	if len(f.Fields) > 0 {
		s += ":" + strings.Join(f.Fields, ",")
	}
	return s
}
