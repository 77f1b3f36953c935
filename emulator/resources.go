package emulator

import (
	"net/http"
	"regexp"
	"slices"
	"time"
)

// routes registers the Asana API.
func (e *Emulator) routes() {
	e.handle("GET /users/me", e.getMe)
	e.handle("GET /users/{user_gid}", e.getUser)
	e.handle("GET /workspaces", e.listWorkspaces)
	e.handle("GET /workspaces/{workspace_gid}", e.getWorkspace)
	e.handle("GET /workspaces/{workspace_gid}/projects", e.listWorkspaceProjects)
	e.handle("GET /projects", e.listProjects)
	e.handle("POST /projects", e.createProject)
	e.handle("GET /projects/{project_gid}", e.getProject)
	e.handle("PUT /projects/{project_gid}", e.updateProject)
	e.handle("GET /projects/{project_gid}/sections", e.listSections)
	e.handle("POST /projects/{project_gid}/sections", e.createSection)
	e.handle("GET /projects/{project_gid}/tasks", e.listProjectTasks)
	e.handle("GET /sections/{section_gid}", e.getSection)
	e.handle("PUT /sections/{section_gid}", e.updateSection)
	e.handle("POST /sections/{section_gid}/addTask", e.sectionAddTask)
	e.handle("POST /tasks", e.createTask)
	e.handle("GET /tasks", e.listTasks)
	e.handle("GET /sections/{section_gid}/tasks", e.listSectionTasks)
	e.handle("GET /tasks/{task_gid}", e.getTask)
	e.handle("PUT /tasks/{task_gid}", e.updateTask)
	e.handle("DELETE /tasks/{task_gid}", e.deleteTask)
	e.handle("GET /tasks/{task_gid}/subtasks", e.listSubtasks)
	e.handle("POST /tasks/{task_gid}/subtasks", e.createSubtask)
	e.handle("POST /tasks/{task_gid}/setParent", e.setParent)
	e.handle("POST /tasks/{task_gid}/addProject", e.addProject)
	e.handle("POST /tasks/{task_gid}/removeProject", e.removeProject)
	e.handle("POST /tasks/{task_gid}/addFollowers", e.addFollowers)
	e.handle("POST /tasks/{task_gid}/removeFollowers", e.removeFollowers)
	e.handle("GET /tasks/{task_gid}/stories", e.listStories)
	e.handle("POST /tasks/{task_gid}/stories", e.createStory)
	e.handle("GET /stories/{story_gid}", e.getStory)
	e.handle("POST /webhooks", e.createWebhook)
	e.handle("GET /webhooks", e.listWebhooks)
	e.handle("GET /webhooks/{webhook_gid}", e.getWebhook)
	e.handle("PUT /webhooks/{webhook_gid}", e.updateWebhook)
	e.handle("DELETE /webhooks/{webhook_gid}", e.deleteWebhook)
	e.handle("GET /events", e.getEvents)
	e.handle("GET /workspaces/{workspace_gid}/events", e.getWorkspaceEvents)
}

// wantFull reports whether a list should render full records (opt_fields
// asked for fields) instead of compact ones.
func (c *call) wantFull() bool { return len(optFields(c.r, c.in)) > 0 }

// location returns the API URL of an object, for Location headers.
func (c *call) location(kind, gid string) string {
	return baseURL(c.r) + "/" + kind + "/" + gid
}

// lookup finds an object of the given type, answering 404 otherwise.
func lookup[T any](m map[string]*T, gid string) (*T, error) {
	v, ok := m[gid]
	if !ok {
		return nil, notFound(gid)
	}
	return v, nil
}

func (e *Emulator) getMe(c *call) (*result, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return &result{data: e.st.renderUser(e.st.users[c.user])}, nil
}

func (e *Emulator) getUser(c *call) (*result, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if c.r.PathValue("user_gid") == "me" {
		return &result{data: e.st.renderUser(e.st.users[c.user])}, nil
	}
	gid, err := pathGID(c.r, "user_gid")
	if err != nil {
		return nil, err
	}
	u, err := lookup(e.st.users, gid)
	if err != nil {
		return nil, err
	}
	return &result{data: e.st.renderUser(u)}, nil
}

func (e *Emulator) listWorkspaces(c *call) (*result, error) {
	p, err := parsePaging(c.r)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if c.wantFull() {
		out := make([]workspaceJSON, 0, len(e.st.wsOrder))
		for _, g := range e.st.wsOrder {
			out = append(out, renderWorkspace(e.st.workspaces[g]))
		}
		return pageResult(c.r, p, out), nil
	}
	return pageResult(c.r, p, e.st.compacts(e.st.wsOrder)), nil
}

func (e *Emulator) getWorkspace(c *call) (*result, error) {
	gid, err := pathGID(c.r, "workspace_gid")
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	w, err := lookup(e.st.workspaces, gid)
	if err != nil {
		return nil, err
	}
	return &result{data: renderWorkspace(w)}, nil
}

// projectsIn lists a workspace's projects, optionally only unarchived.
func (e *Emulator) projectsIn(c *call, ws string) (*result, error) {
	p, err := parsePaging(c.r)
	if err != nil {
		return nil, err
	}
	archived, hasArchived, err := queryBool(c.r, "archived")
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, err := lookup(e.st.workspaces, ws); err != nil {
		return nil, err
	}
	var gids []string
	for _, g := range e.st.projOrder {
		pr := e.st.projects[g]
		if pr.workspace != ws || (hasArchived && pr.archived != archived) {
			continue
		}
		gids = append(gids, g)
	}
	if c.wantFull() {
		out := make([]projectJSON, 0, len(gids))
		for _, g := range gids {
			out = append(out, e.st.renderProject(e.st.projects[g]))
		}
		return pageResult(c.r, p, out), nil
	}
	return pageResult(c.r, p, e.st.compacts(gids)), nil
}

func queryBool(r *http.Request, name string) (v, present bool, err error) {
	q := r.URL.Query()
	if !q.Has(name) {
		return false, false, nil
	}
	switch q.Get(name) {
	case "true":
		return true, true, nil
	case "false":
		return false, true, nil
	}
	return false, true, errorf(http.StatusBadRequest, "%s: must be true or false", name)
}

func (e *Emulator) listWorkspaceProjects(c *call) (*result, error) {
	gid, err := pathGID(c.r, "workspace_gid")
	if err != nil {
		return nil, err
	}
	return e.projectsIn(c, gid)
}

func (e *Emulator) listProjects(c *call) (*result, error) {
	ws, err := queryGID(c.r, "workspace")
	if err != nil {
		return nil, err
	}
	return e.projectsIn(c, ws)
}

func (e *Emulator) getProject(c *call) (*result, error) {
	gid, err := pathGID(c.r, "project_gid")
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	pr, err := lookup(e.st.projects, gid)
	if err != nil {
		return nil, err
	}
	return &result{data: e.st.renderProject(pr)}, nil
}

var dateRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)

// checkDate validates a YYYY-MM-DD field value ("" clears it).
func checkDate(field, v string) error {
	if v == "" {
		return nil
	}
	if !dateRE.MatchString(v) {
		return errorf(http.StatusBadRequest, "%s: Invalid date format, expected YYYY-MM-DD: %s", field, v)
	}
	if _, err := time.Parse(time.DateOnly, v); err != nil {
		return errorf(http.StatusBadRequest, "%s: Invalid date: %s", field, v)
	}
	return nil
}

// projectFields are the updatable fields of a project.
type projectFields struct {
	name, notes, color, dueOn           string
	hasName, hasNotes, hasColor, hasDue bool
	archived, hasArchived               bool
}

func readProjectFields(in *input) (projectFields, error) {
	var f projectFields
	var err error
	if f.name, f.hasName, err = in.str("name"); err != nil {
		return f, err
	}
	if f.notes, f.hasNotes, err = in.str("notes"); err != nil {
		return f, err
	}
	if f.color, f.hasColor, err = in.nullableStr("color"); err != nil {
		return f, err
	}
	if f.dueOn, f.hasDue, err = in.nullableStr("due_on"); err != nil {
		return f, err
	}
	if err := checkDate("due_on", f.dueOn); err != nil {
		return f, err
	}
	if f.archived, f.hasArchived, err = in.boolean("archived"); err != nil {
		return f, err
	}
	return f, nil
}

func (e *Emulator) createProject(c *call) (*result, error) {
	f, err := readProjectFields(c.in)
	if err != nil {
		return nil, err
	}
	wsGID, present, err := c.in.str("workspace")
	if err != nil {
		return nil, err
	}
	if !present || wsGID == "" {
		return nil, missingInput("workspace")
	}
	if !f.hasName || f.name == "" {
		return nil, missingInput("name")
	}
	var ob outbox
	e.mu.Lock()
	if _, ok := e.st.workspaces[wsGID]; !ok {
		e.mu.Unlock()
		return nil, notRecognized("workspace", wsGID)
	}
	now := e.clk.Now()
	pr := &project{gid: e.st.newGID(), name: f.name, notes: f.notes, color: f.color, dueOn: f.dueOn,
		archived: f.archived, workspace: wsGID, owner: c.user, members: []string{c.user},
		followers: []string{c.user}, createdAt: now, modifiedAt: now}
	e.st.projects[pr.gid] = pr
	e.st.projOrder = append(e.st.projOrder, pr.gid)
	// Like Asana, a new project starts with one untitled section.
	sc := &section{gid: e.st.newGID(), name: "Untitled section", project: pr.gid, createdAt: now}
	e.st.sections[sc.gid] = sc
	pr.sections = []string{sc.gid}
	e.emitLocked(&ob, &event{at: now, user: e.st.refOf(c.user), action: "added",
		resource: *e.st.refOf(pr.gid), parent: e.st.refOf(wsGID)})
	data := e.st.renderProject(pr)
	e.mu.Unlock()
	e.flush(&ob)
	return &result{status: http.StatusCreated, data: data, location: c.location("projects", pr.gid)}, nil
}

func (e *Emulator) updateProject(c *call) (*result, error) {
	gid, err := pathGID(c.r, "project_gid")
	if err != nil {
		return nil, err
	}
	f, err := readProjectFields(c.in)
	if err != nil {
		return nil, err
	}
	var ob outbox
	e.mu.Lock()
	pr, err := lookup(e.st.projects, gid)
	if err != nil {
		e.mu.Unlock()
		return nil, err
	}
	now := e.clk.Now()
	var changed []string
	if f.hasName && f.name != pr.name {
		if f.name == "" {
			e.mu.Unlock()
			return nil, errorf(http.StatusBadRequest, "name: Cannot be empty")
		}
		pr.name = f.name
		changed = append(changed, "name")
	}
	if f.hasNotes && f.notes != pr.notes {
		pr.notes = f.notes
		changed = append(changed, "notes")
	}
	if f.hasColor && f.color != pr.color {
		pr.color = f.color
		changed = append(changed, "color")
	}
	if f.hasDue && f.dueOn != pr.dueOn {
		pr.dueOn = f.dueOn
		changed = append(changed, "due_on")
	}
	if f.hasArchived && f.archived != pr.archived {
		pr.archived = f.archived
		changed = append(changed, "archived")
	}
	if len(changed) > 0 {
		pr.modifiedAt = now
	}
	for _, field := range changed {
		e.emitLocked(&ob, &event{at: now, user: e.st.refOf(c.user), action: "changed",
			resource: *e.st.refOf(pr.gid), change: &change{field: field, action: "changed"}})
	}
	data := e.st.renderProject(pr)
	e.mu.Unlock()
	e.flush(&ob)
	return &result{data: data}, nil
}

func (e *Emulator) listSections(c *call) (*result, error) {
	gid, err := pathGID(c.r, "project_gid")
	if err != nil {
		return nil, err
	}
	p, err := parsePaging(c.r)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	pr, err := lookup(e.st.projects, gid)
	if err != nil {
		return nil, err
	}
	if c.wantFull() {
		out := make([]sectionJSON, 0, len(pr.sections))
		for _, g := range pr.sections {
			out = append(out, e.st.renderSection(e.st.sections[g]))
		}
		return pageResult(c.r, p, out), nil
	}
	return pageResult(c.r, p, e.st.compacts(pr.sections)), nil
}

func (e *Emulator) createSection(c *call) (*result, error) {
	gid, err := pathGID(c.r, "project_gid")
	if err != nil {
		return nil, err
	}
	name, err := c.in.requiredStr("name")
	if err != nil {
		return nil, err
	}
	var ob outbox
	e.mu.Lock()
	pr, err := lookup(e.st.projects, gid)
	if err != nil {
		e.mu.Unlock()
		return nil, err
	}
	now := e.clk.Now()
	sc := &section{gid: e.st.newGID(), name: name, project: pr.gid, createdAt: now}
	e.st.sections[sc.gid] = sc
	pr.sections = append(pr.sections, sc.gid)
	e.emitLocked(&ob, &event{at: now, user: e.st.refOf(c.user), action: "added",
		resource: *e.st.refOf(sc.gid), parent: e.st.refOf(pr.gid)})
	data := e.st.renderSection(sc)
	e.mu.Unlock()
	e.flush(&ob)
	return &result{status: http.StatusCreated, data: data, location: c.location("sections", sc.gid)}, nil
}

func (e *Emulator) getSection(c *call) (*result, error) {
	gid, err := pathGID(c.r, "section_gid")
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	sc, err := lookup(e.st.sections, gid)
	if err != nil {
		return nil, err
	}
	return &result{data: e.st.renderSection(sc)}, nil
}

func (e *Emulator) updateSection(c *call) (*result, error) {
	gid, err := pathGID(c.r, "section_gid")
	if err != nil {
		return nil, err
	}
	name, err := c.in.requiredStr("name")
	if err != nil {
		return nil, err
	}
	var ob outbox
	e.mu.Lock()
	sc, err := lookup(e.st.sections, gid)
	if err != nil {
		e.mu.Unlock()
		return nil, err
	}
	if sc.name != name {
		sc.name = name
		e.emitLocked(&ob, &event{user: e.st.refOf(c.user), action: "changed",
			resource: *e.st.refOf(sc.gid), change: &change{field: "name", action: "changed"}})
	}
	data := e.st.renderSection(sc)
	e.mu.Unlock()
	e.flush(&ob)
	return &result{data: data}, nil
}

func (e *Emulator) sectionAddTask(c *call) (*result, error) {
	gid, err := pathGID(c.r, "section_gid")
	if err != nil {
		return nil, err
	}
	taskGID, err := c.in.requiredStr("task")
	if err != nil {
		return nil, err
	}
	var ob outbox
	e.mu.Lock()
	defer func() { e.mu.Unlock(); e.flush(&ob) }()
	sc, err := lookup(e.st.sections, gid)
	if err != nil {
		return nil, err
	}
	t, ok := e.st.tasks[taskGID]
	if !ok {
		return nil, notRecognized("task", taskGID)
	}
	e.moveToSectionLocked(&ob, c.user, t, sc)
	return &result{data: struct{}{}}, nil
}

// moveToSectionLocked puts t into section sc (adding it to the project if
// needed) and emits the events.
func (e *Emulator) moveToSectionLocked(ob *outbox, actor string, t *task, sc *section) {
	now := e.clk.Now()
	for i, m := range t.memberships {
		if m.project != sc.project {
			continue
		}
		if m.section == sc.gid {
			return
		}
		if m.section != "" {
			e.emitLocked(ob, &event{at: now, user: e.st.refOf(actor), action: "removed",
				resource: *e.st.refOf(t.gid), parent: e.st.refOf(m.section)})
		}
		t.memberships[i].section = sc.gid
		e.emitLocked(ob, &event{at: now, user: e.st.refOf(actor), action: "added",
			resource: *e.st.refOf(t.gid), parent: e.st.refOf(sc.gid)})
		t.modifiedAt = now
		return
	}
	e.addToProjectLocked(ob, actor, t, e.st.projects[sc.project], sc.gid, now)
}

// addToProjectLocked adds t to a project (in section sec, or the first one)
// and emits "added" with the project and with the section as parent.
func (e *Emulator) addToProjectLocked(ob *outbox, actor string, t *task, pr *project, sec string, now time.Time) {
	if sec == "" && len(pr.sections) > 0 {
		sec = pr.sections[0]
	}
	t.memberships = append(t.memberships, membership{project: pr.gid, section: sec})
	if !slices.Contains(pr.tasks, t.gid) {
		pr.tasks = append(pr.tasks, t.gid)
	}
	t.modifiedAt = now
	e.emitLocked(ob, &event{at: now, user: e.st.refOf(actor), action: "added",
		resource: *e.st.refOf(t.gid), parent: e.st.refOf(pr.gid)})
	if sec != "" {
		e.emitLocked(ob, &event{at: now, user: e.st.refOf(actor), action: "added",
			resource: *e.st.refOf(t.gid), parent: e.st.refOf(sec)})
	}
}
