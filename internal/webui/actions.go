package webui

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/asana-webhooks/asana-webhooks/asana"
	"github.com/asana-webhooks/asana-webhooks/internal/inspector"
)

// filterRows is how many filter rows the create form shows.
const filterRows = 4

// maxJobs bounds the create jobs kept for their result pages.
const maxJobs = 50

// maxFormBytes bounds a form body.
const maxFormBytes = 64 << 10

// resourceKinds are the kinds a user can say the resource is.
var resourceKinds = []struct{ Value, Label string }{
	{"project", "Project"},
	{"workspace", "Workspace"},
	{"team", "Team"},
	{"portfolio", "Portfolio"},
	{"other", "Other (task, section, tag, goal...)"},
}

// createPage is the data of the create form.
type createPage struct {
	page
	Projects     []asana.Project
	ProjectError string
	Kinds        []struct{ Value, Label string }
	Types        []string
	Actions      []string
	Form         createForm
	Problems     []string
}

// createForm is the form as submitted, to show it again with its errors.
type createForm struct {
	Project string
	GID     string
	Kind    string
	Filters []filterRow
}

// filterRow is one row of the filter builder.
type filterRow struct {
	Index                int
	ResourceType, Action string
	Fields, Subtype      string
}

func emptyForm() createForm {
	f := createForm{Kind: "project"}
	for i := range filterRows {
		f.Filters = append(f.Filters, filterRow{Index: i})
	}
	return f
}

// serveCreateForm is GET /create.
func (u *UI) serveCreateForm(w http.ResponseWriter, r *http.Request) error {
	p := u.newCreatePage(r.Context(), emptyForm())
	u.render(w, r, http.StatusOK, "create", p)
	return nil
}

func (u *UI) newCreatePage(ctx context.Context, form createForm) createPage {
	p := createPage{page: page{Title: "Create a webhook", Nav: "create"}, Kinds: resourceKinds,
		Types: resourceTypes, Actions: filterActions, Form: form}
	ctx, cancel := context.WithTimeout(ctx, u.cfg.ActionTimeout)
	defer cancel()
	projects, err := u.cfg.Actions.Projects(ctx)
	if err != nil {
		u.log.Warn("list projects for the ui", "err", err)
		p.ProjectError = errorWords(err)
	}
	p.Projects = slices.DeleteFunc(projects, func(p asana.Project) bool { return p.Archived })
	slices.SortStableFunc(p.Projects, func(a, b asana.Project) int { return strings.Compare(a.Name, b.Name) })
	return p
}

// serveCreate is POST /create: it checks the form, then starts the create in
// the background and sends the browser to the job's page, which shows the
// handshake's progress.
func (u *UI) serveCreate(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		return &httpError{status: http.StatusBadRequest, msg: "The form could not be read."}
	}
	form, req, problems := readCreateForm(r.PostForm)
	if len(problems) > 0 {
		p := u.newCreatePage(r.Context(), form)
		p.Problems = problems
		u.render(w, r, http.StatusUnprocessableEntity, "create", p)
		return nil
	}
	job, ok := u.startJob(r.Context(), req)
	if !ok {
		return &httpError{status: http.StatusServiceUnavailable, msg: "The inspector is stopping; nothing was created."}
	}
	http.Redirect(w, r, "/create/jobs/"+job.id, http.StatusSeeOther)
	return nil
}

// readCreateForm reads and checks the create form.
func readCreateForm(v url.Values) (createForm, CreateRequest, []string) {
	form := createForm{
		Project: strings.TrimSpace(v.Get("project")),
		GID:     strings.TrimSpace(v.Get("gid")),
		Kind:    strings.TrimSpace(v.Get("kind")),
	}
	var problems []string
	gid := form.GID
	switch {
	case gid != "" && form.Project != "" && gid != form.Project:
		problems = append(problems, "Pick a project or paste a gid, not both.")
	case gid == "":
		gid = form.Project
	}
	if gid == "" && len(problems) == 0 {
		problems = append(problems, "Pick a project or paste the gid of a resource.")
	} else if gid != "" && !isGID(gid) {
		problems = append(problems, fmt.Sprintf("%q is not a gid: a gid is a number like 1200000000000001.", gid))
	}
	if form.GID == "" && form.Project != "" {
		form.Kind = "project"
	}
	known := false
	for _, k := range resourceKinds {
		known = known || k.Value == form.Kind
	}
	if !known {
		problems = append(problems, "Say what kind of resource it is.")
		form.Kind = "project"
	}
	var filters []asana.Filter
	for i := range filterRows {
		n := strconv.Itoa(i)
		row := filterRow{
			Index:        i,
			ResourceType: strings.ToLower(strings.TrimSpace(v.Get("rt" + n))),
			Action:       strings.ToLower(strings.TrimSpace(v.Get("action" + n))),
			Fields:       strings.TrimSpace(v.Get("fields" + n)),
			Subtype:      strings.ToLower(strings.TrimSpace(v.Get("subtype" + n))),
		}
		form.Filters = append(form.Filters, row)
		if row.ResourceType == "" && row.Action == "" && row.Fields == "" && row.Subtype == "" {
			continue
		}
		filters = append(filters, asana.Filter{ResourceType: row.ResourceType, Action: row.Action,
			Fields: splitFields(row.Fields), ResourceSubtype: row.Subtype})
	}
	kind := form.Kind
	if kind == "other" {
		kind = ""
	}
	for _, p := range ValidateFilters(kind, filters) {
		problems = append(problems, p.String())
	}
	return form, CreateRequest{ResourceGID: gid, ResourceType: kind, Filters: filters}, problems
}

// createJob is a create running in the background.
type createJob struct {
	id  string
	req CreateRequest

	mu      sync.Mutex
	steps   []jobStep
	done    bool
	result  CreateResult
	errText string
	apiErr  *asana.APIError
}

// jobStep is one progress report.
type jobStep struct {
	At   time.Time
	Text string
}

// startJob runs the create with a context detached from the request (the
// browser goes to the job page at once), bounded by ActionTimeout and
// cancelled by Close. It returns false once Close was called.
func (u *UI) startJob(ctx context.Context, req CreateRequest) (*createJob, bool) {
	var b [16]byte
	_, _ = rand.Read(b[:])
	job := &createJob{id: hex.EncodeToString(b[:]), req: req}
	u.jobsMu.Lock()
	if u.jobsClosed {
		u.jobsMu.Unlock()
		return nil, false
	}
	u.running.Add(1)
	u.jobs[job.id] = job
	u.order = append(u.order, job.id)
	for len(u.order) > maxJobs {
		delete(u.jobs, u.order[0])
		u.order = u.order[1:]
	}
	u.jobsMu.Unlock()

	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), u.cfg.ActionTimeout)
	job.step(u.cfg.Now(), "Creating a webhook on "+req.ResourceGID+"...")
	go func() {
		select {
		case <-u.closing:
			cancel()
		case <-ctx.Done():
		}
	}()
	go func() {
		defer u.running.Done()
		defer cancel()
		res, err := u.cfg.Actions.Create(ctx, req, func(s string) { job.step(u.cfg.Now(), s) })
		job.mu.Lock()
		defer job.mu.Unlock()
		job.done = true
		if err != nil {
			u.log.Warn("create webhook from the ui", "resource", req.ResourceGID, "err", err)
			job.errText = errorWords(err)
			var ae *asana.APIError
			if errors.As(err, &ae) {
				job.apiErr = ae
			}
			return
		}
		job.result = res
		job.steps = append(job.steps, jobStep{At: u.cfg.Now(), Text: "Done: webhook " + res.WebhookGID + " is active."})
	}()
	return job, true
}

func (j *createJob) step(at time.Time, s string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if !j.done {
		j.steps = append(j.steps, jobStep{At: at, Text: s})
	}
}

// jobPage is the data of a create job's page.
type jobPage struct {
	page
	ID      string
	Req     CreateRequest
	Steps   []jobStep
	Done    bool
	Result  CreateResult
	Error   string
	APIErr  *asana.APIError
	Advice  string
	Running bool
}

// serveCreateJob is GET /create/jobs/{jobID}: progress while the create
// runs, then its result or Asana's error.
func (u *UI) serveCreateJob(w http.ResponseWriter, r *http.Request) error {
	u.jobsMu.Lock()
	job, ok := u.jobs[r.PathValue("jobID")]
	u.jobsMu.Unlock()
	if !ok {
		return &httpError{status: http.StatusNotFound, msg: "There is no such create (it may be too old, or the inspector restarted)."}
	}
	job.mu.Lock()
	p := jobPage{page: page{Title: "Creating a webhook", Nav: "create"}, ID: job.id, Req: job.req,
		Steps: slices.Clone(job.steps), Done: job.done, Result: job.result, Error: job.errText, APIErr: job.apiErr}
	job.mu.Unlock()
	p.Running = !p.Done
	if p.Running {
		p.Refresh, p.RefreshSeconds = "job-region", 1
	} else if p.Error == "" {
		p.Title = "Webhook created"
	} else {
		p.Title = "The webhook was not created"
		p.Advice = advice(p.APIErr)
	}
	u.render(w, r, http.StatusOK, "job", p)
	return nil
}

// advice explains Asana's errors that people meet when creating webhooks.
func advice(ae *asana.APIError) string {
	if ae == nil {
		return ""
	}
	msg := strings.ToLower(ae.Message())
	switch {
	case ae.Code() == "invalid_filters_for_larger_scoped_webhooks":
		return "Webhooks on a workspace, team or portfolio need filters, and only on project, team_membership or workspace_membership."
	case strings.Contains(msg, "duplicate"):
		return "A webhook on this resource with this target exists already: delete it first."
	case ae.StatusCode == http.StatusForbidden:
		return "Asana refused: the token may lack access to the resource, or the target is not reachable from the internet (localhost is refused)."
	case ae.StatusCode == http.StatusNotFound:
		return "Asana does not know this resource, or the token cannot see it."
	case ae.StatusCode == http.StatusUnauthorized:
		return "The token is not valid."
	case ae.StatusCode == http.StatusTooManyRequests:
		return "Too many requests: wait a moment and try again."
	}
	return ""
}

// errorWords says what went wrong, for people. Asana's errors come with
// their messages; the others with their text, which never holds a secret
// (Actions promise it).
func errorWords(err error) string {
	var ae *asana.APIError
	if errors.As(err, &ae) {
		msgs := make([]string, 0, len(ae.Errors))
		for _, d := range ae.Errors {
			m := d.Message
			if d.Help != "" {
				m += " (" + d.Help + ")"
			}
			msgs = append(msgs, m)
		}
		s := fmt.Sprintf("Asana answered %d %s", ae.StatusCode, http.StatusText(ae.StatusCode))
		if len(msgs) > 0 {
			s += ": " + strings.Join(msgs, "; ")
		}
		return s
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "It took too long: " + err.Error()
	}
	return err.Error()
}

// confirmPage is the data of a delete confirmation.
type confirmPage struct {
	page
	// Hook is the one webhook to delete; nil for "all".
	Hook   *inspector.Hook
	Hooks  []inspector.Hook
	Action string
}

// serveDeleteConfirm is GET /webhooks/{hookID}/delete: it asks first.
func (u *UI) serveDeleteConfirm(w http.ResponseWriter, r *http.Request) error {
	h, err := u.ourHook(r)
	if err != nil {
		return err
	}
	u.render(w, r, http.StatusOK, "confirm", confirmPage{page: page{Title: "Delete a webhook", Nav: "webhooks"},
		Hook: &h, Action: "/webhooks/" + h.ID + "/delete"})
	return nil
}

// serveDelete is POST /webhooks/{hookID}/delete.
func (u *UI) serveDelete(w http.ResponseWriter, r *http.Request) error {
	h, err := u.ourHook(r)
	if err != nil {
		return err
	}
	// Detached from the request: a delete that reached Asana must also be
	// recorded, even if the browser goes away meanwhile.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), u.cfg.ActionTimeout)
	defer cancel()
	if err := u.cfg.Actions.Delete(ctx, h.ID); err != nil {
		u.log.Warn("delete webhook from the ui", "hook", h.ID, "err", err)
		return &httpError{status: http.StatusBadGateway, msg: "The webhook was not deleted. " + errorWords(err)}
	}
	http.Redirect(w, r, "/webhooks?done=deleted", http.StatusSeeOther)
	return nil
}

// ourHook returns the hook named by the path, if it is ours and live.
func (u *UI) ourHook(r *http.Request) (inspector.Hook, error) {
	id := r.PathValue("hookID")
	notFound := &httpError{status: http.StatusNotFound, msg: "This is not one of our webhooks."}
	if !inspector.ValidHookID(id) {
		return inspector.Hook{}, notFound
	}
	h, err := u.cfg.Reader.GetHook(r.Context(), id)
	if errors.Is(err, inspector.ErrNotFound) {
		return inspector.Hook{}, notFound
	}
	if err != nil {
		return inspector.Hook{}, err
	}
	if h.State == inspector.HookDeleted || h.State == inspector.HookFailed {
		return inspector.Hook{}, &httpError{status: http.StatusNotFound, msg: "This webhook is already gone."}
	}
	return h, nil
}

// serveDeleteAllConfirm is GET /webhooks/delete-all: it lists what would go.
func (u *UI) serveDeleteAllConfirm(w http.ResponseWriter, r *http.Request) error {
	hooks, err := u.cfg.Reader.ListHooks(r.Context(), inspector.HookFilter{States: []inspector.HookState{inspector.HookActive, inspector.HookPending}})
	if err != nil {
		return err
	}
	u.render(w, r, http.StatusOK, "confirm", confirmPage{page: page{Title: "Delete all our webhooks", Nav: "webhooks"},
		Hooks: hooks, Action: "/webhooks/delete-all"})
	return nil
}

// serveDeleteAll is POST /webhooks/delete-all.
func (u *UI) serveDeleteAll(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), u.cfg.ActionTimeout)
	defer cancel()
	n, err := u.cfg.Actions.DeleteAll(ctx)
	if err != nil {
		u.log.Warn("delete all webhooks from the ui", "deleted", n, "err", err)
		return &httpError{status: http.StatusBadGateway, msg: fmt.Sprintf("Deleted %d, then failed. %s", n, errorWords(err))}
	}
	http.Redirect(w, r, "/webhooks?done=deleted-all&n="+strconv.Itoa(n), http.StatusSeeOther)
	return nil
}

// serveReplay is POST /deliveries/{id}/replay: the delivery goes to the
// user's app again; the delivery's page then says how the app answered.
func (u *UI) serveReplay(w http.ResponseWriter, r *http.Request) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if u.cfg.Forwarder == nil || err != nil || id <= 0 {
		return &httpError{status: http.StatusNotFound, msg: "There is no such delivery, or no app to send it to."}
	}
	ctx, cancel := context.WithTimeout(r.Context(), u.cfg.ActionTimeout)
	defer cancel()
	status, err := u.cfg.Forwarder.Replay(ctx, id)
	if errors.Is(err, inspector.ErrNotFound) {
		return &httpError{status: http.StatusNotFound, msg: "There is no such delivery."}
	}
	if err != nil {
		u.log.Warn("replay to the app failed", "delivery", id, "err", err)
		status = 0
	}
	http.Redirect(w, r, "/deliveries/"+strconv.FormatInt(id, 10)+"?replayed="+strconv.Itoa(status), http.StatusSeeOther)
	return nil
}

// replayedMessage says how the app answered a replay (status 0: it did not).
func replayedMessage(status int) string {
	switch {
	case status == 0:
		return "Sent again, but your app did not answer (the inspector's log says why)."
	case status >= 200 && status <= 299:
		return fmt.Sprintf("Sent again: your app answered %d %s.", status, http.StatusText(status))
	case http.StatusText(status) != "":
		return fmt.Sprintf("Sent again: your app refused it, %d %s.", status, http.StatusText(status))
	}
	return ""
}
