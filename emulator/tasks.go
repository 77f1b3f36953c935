package emulator

import (
	"net/http"
	"slices"
	"time"
)

// TaskUpdate is a change to a task, as PUT /tasks/{gid} takes it; nil fields
// stay as they are. Assignee and DueOn take "" to clear.
type TaskUpdate struct {
	Name      *string
	Notes     *string
	Completed *bool
	Assignee  *string
	DueOn     *string
}

func readTaskUpdate(in *input) (TaskUpdate, error) {
	var u TaskUpdate
	if v, ok, err := in.str("name"); err != nil {
		return u, err
	} else if ok {
		u.Name = &v
	}
	if v, ok, err := in.str("notes"); err != nil {
		return u, err
	} else if ok {
		u.Notes = &v
	}
	if v, ok, err := in.boolean("completed"); err != nil {
		return u, err
	} else if ok {
		u.Completed = &v
	}
	if v, ok, err := in.nullableStr("assignee"); err != nil {
		return u, err
	} else if ok {
		u.Assignee = &v
	}
	if v, ok, err := in.nullableStr("due_on"); err != nil {
		return u, err
	} else if ok {
		if err := checkDate("due_on", v); err != nil {
			return u, err
		}
		u.DueOn = &v
	}
	return u, nil
}

// resolveAssignee maps "me", an email or a gid to a user gid.
func (s *state) resolveAssignee(actor, v string) (string, error) {
	switch {
	case v == "":
		return "", nil
	case v == "me":
		return actor, nil
	}
	for _, g := range s.userOrder {
		if g == v || s.users[g].email == v {
			return g, nil
		}
	}
	return "", notRecognized("assignee", v)
}

// applyTaskUpdateLocked applies u to t and emits one changed event per
// changed field (completed also changes completed_at, with one timestamp).
func (e *Emulator) applyTaskUpdateLocked(ob *outbox, actor string, t *task, u TaskUpdate) error {
	s := e.st
	assignee := t.assignee
	if u.Assignee != nil {
		a, err := s.resolveAssignee(actor, *u.Assignee)
		if err != nil {
			return err
		}
		assignee = a
	}
	if u.Name != nil && *u.Name == "" {
		return errorf(http.StatusBadRequest, "name: Cannot be empty")
	}
	now := e.clk.Now()
	emit := func(field string, newValue *ref) {
		t.modifiedAt = now
		e.emitLocked(ob, &event{at: now, user: s.refOf(actor), action: "changed", resource: *s.refOf(t.gid),
			change: &change{field: field, action: "changed", newValue: newValue}})
	}
	if u.Name != nil && *u.Name != t.name {
		t.name = *u.Name
		emit("name", nil)
	}
	if u.Notes != nil && *u.Notes != t.notes {
		t.notes = *u.Notes
		emit("notes", nil)
	}
	if assignee != t.assignee {
		t.assignee = assignee
		emit("assignee", s.refOf(assignee))
		if assignee != "" && !slices.Contains(t.followers, assignee) {
			t.followers = append(t.followers, assignee)
		}
	}
	if u.DueOn != nil && *u.DueOn != t.dueOn {
		t.dueOn = *u.DueOn
		emit("due_on", nil)
	}
	if u.Completed != nil && *u.Completed != t.completed {
		t.completed = *u.Completed
		if t.completed {
			t.completedAt, t.completedBy = now, actor
		} else {
			t.completedAt, t.completedBy = time.Time{}, ""
		}
		emit("completed", nil)
		emit("completed_at", nil)
	}
	return nil
}

func (e *Emulator) getTask(c *call) (*result, error) {
	gid, err := pathGID(c.r, "task_gid")
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	t, err := lookup(e.st.tasks, gid)
	if err != nil {
		return nil, err
	}
	return &result{data: e.st.renderTask(t)}, nil
}

// newTaskLocked creates a task in the given projects and/or under a parent,
// and emits its events.
func (e *Emulator) newTaskLocked(ob *outbox, actor, name string, projects []string, parent string, u TaskUpdate) (*task, error) {
	s := e.st
	var ws string
	for _, pg := range projects {
		pr, ok := s.projects[pg]
		if !ok {
			return nil, notRecognized("projects", pg)
		}
		ws = pr.workspace
	}
	if parent != "" {
		pt, ok := s.tasks[parent]
		if !ok {
			return nil, notRecognized("parent", parent)
		}
		ws = pt.workspace
	}
	if ws == "" {
		return nil, errorf(http.StatusBadRequest, "workspace: Missing input")
	}
	now := e.clk.Now()
	t := &task{gid: s.newGID(), name: name, subtype: "default_task", workspace: ws, createdBy: actor,
		createdAt: now, modifiedAt: now, parent: parent, followers: []string{actor}}
	if u.Notes != nil {
		t.notes = *u.Notes
	}
	if u.DueOn != nil {
		t.dueOn = *u.DueOn
	}
	if u.Assignee != nil {
		a, err := s.resolveAssignee(actor, *u.Assignee)
		if err != nil {
			return nil, err
		}
		t.assignee = a
		if a != "" && a != actor {
			t.followers = append(t.followers, a)
		}
	}
	if u.Completed != nil && *u.Completed {
		t.completed, t.completedAt, t.completedBy = true, now, actor
	}
	s.tasks[t.gid] = t
	if parent != "" {
		s.tasks[parent].subtasks = append(s.tasks[parent].subtasks, t.gid)
		e.emitLocked(ob, &event{at: now, user: s.refOf(actor), action: "added", resource: *s.refOf(t.gid),
			parent: s.refOf(parent)})
	}
	for _, pg := range projects {
		if !slices.ContainsFunc(t.memberships, func(m membership) bool { return m.project == pg }) {
			e.addToProjectLocked(ob, actor, t, s.projects[pg], "", now)
		}
	}
	if len(projects) == 0 && parent == "" {
		e.emitLocked(ob, &event{at: now, user: s.refOf(actor), action: "added", resource: *s.refOf(t.gid),
			parent: s.refOf(ws)})
	}
	return t, nil
}

func (e *Emulator) createTask(c *call) (*result, error) {
	name, _, err := c.in.str("name")
	if err != nil {
		return nil, err
	}
	projects, _, err := c.in.gids("projects")
	if err != nil {
		return nil, err
	}
	parent, _, err := c.in.nullableStr("parent")
	if err != nil {
		return nil, err
	}
	ws, hasWS, err := c.in.str("workspace")
	if err != nil {
		return nil, err
	}
	u, err := readTaskUpdate(c.in)
	if err != nil {
		return nil, err
	}
	if len(projects) == 0 && parent == "" && !hasWS {
		return nil, errorf(http.StatusBadRequest, "workspace: Missing input")
	}
	var ob outbox
	e.mu.Lock()
	if hasWS {
		if _, ok := e.st.workspaces[ws]; !ok {
			e.mu.Unlock()
			return nil, notRecognized("workspace", ws)
		}
	}
	var t *task
	if len(projects) == 0 && parent == "" {
		t, err = e.newTaskInWorkspaceLocked(&ob, c.user, name, ws, u)
	} else {
		t, err = e.newTaskLocked(&ob, c.user, name, projects, parent, u)
	}
	if err != nil {
		e.mu.Unlock()
		return nil, err
	}
	data := e.st.renderTask(t)
	e.mu.Unlock()
	e.flush(&ob)
	return &result{status: http.StatusCreated, data: data, location: c.location("tasks", t.gid)}, nil
}

// newTaskInWorkspaceLocked creates a task in no project (My Tasks).
func (e *Emulator) newTaskInWorkspaceLocked(ob *outbox, actor, name, ws string, u TaskUpdate) (*task, error) {
	s := e.st
	now := e.clk.Now()
	t := &task{gid: s.newGID(), name: name, subtype: "default_task", workspace: ws, createdBy: actor,
		createdAt: now, modifiedAt: now, followers: []string{actor}}
	if u.Notes != nil {
		t.notes = *u.Notes
	}
	if u.DueOn != nil {
		t.dueOn = *u.DueOn
	}
	if u.Assignee != nil {
		a, err := s.resolveAssignee(actor, *u.Assignee)
		if err != nil {
			return nil, err
		}
		t.assignee = a
	}
	s.tasks[t.gid] = t
	e.emitLocked(ob, &event{at: now, user: s.refOf(actor), action: "added", resource: *s.refOf(t.gid),
		parent: s.refOf(ws)})
	return t, nil
}

func (e *Emulator) updateTask(c *call) (*result, error) {
	gid, err := pathGID(c.r, "task_gid")
	if err != nil {
		return nil, err
	}
	u, err := readTaskUpdate(c.in)
	if err != nil {
		return nil, err
	}
	var ob outbox
	e.mu.Lock()
	t, err := lookup(e.st.tasks, gid)
	if err == nil {
		err = e.applyTaskUpdateLocked(&ob, c.user, t, u)
	}
	if err != nil {
		e.mu.Unlock()
		return nil, err
	}
	data := e.st.renderTask(t)
	e.mu.Unlock()
	e.flush(&ob)
	return &result{data: data}, nil
}

func (e *Emulator) deleteTask(c *call) (*result, error) {
	gid, err := pathGID(c.r, "task_gid")
	if err != nil {
		return nil, err
	}
	var ob outbox
	e.mu.Lock()
	t, err := lookup(e.st.tasks, gid)
	if err != nil {
		e.mu.Unlock()
		return nil, err
	}
	e.deleteTaskLocked(&ob, c.user, t)
	e.mu.Unlock()
	e.flush(&ob)
	return &result{data: struct{}{}}, nil
}

// deleteTaskLocked deletes t with its subtasks and stories; the deleted
// event goes out while the task's ancestry is still known.
func (e *Emulator) deleteTaskLocked(ob *outbox, actor string, t *task) {
	s := e.st
	e.emitLocked(ob, &event{user: s.refOf(actor), action: "deleted", resource: *s.refOf(t.gid)})
	for _, sub := range slices.Clone(t.subtasks) {
		if st, ok := s.tasks[sub]; ok {
			e.deleteTaskLocked(ob, actor, st)
		}
	}
	if p, ok := s.tasks[t.parent]; ok {
		p.subtasks = slices.DeleteFunc(p.subtasks, func(g string) bool { return g == t.gid })
	}
	for _, m := range t.memberships {
		if pr, ok := s.projects[m.project]; ok {
			pr.tasks = slices.DeleteFunc(pr.tasks, func(g string) bool { return g == t.gid })
		}
	}
	for g, st := range s.stories {
		if st.task == t.gid {
			delete(s.stories, g)
		}
	}
	delete(s.tasks, t.gid)
}

func (e *Emulator) listProjectTasks(c *call) (*result, error) {
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
	return e.taskList(c, p, pr.tasks), nil
}

// listTasks is GET /tasks with project= or section= (Asana also takes
// assignee with workspace, which lists a user's tasks).
func (e *Emulator) listTasks(c *call) (*result, error) {
	q := c.r.URL.Query()
	p, err := parsePaging(c.r)
	if err != nil {
		return nil, err
	}
	switch {
	case q.Has("project"):
		g, err := queryGID(c.r, "project")
		if err != nil {
			return nil, err
		}
		e.mu.Lock()
		defer e.mu.Unlock()
		pr, ok := e.st.projects[g]
		if !ok {
			return nil, notRecognized("project", g)
		}
		return e.taskList(c, p, pr.tasks), nil
	case q.Has("section"):
		g, err := queryGID(c.r, "section")
		if err != nil {
			return nil, err
		}
		e.mu.Lock()
		defer e.mu.Unlock()
		if _, ok := e.st.sections[g]; !ok {
			return nil, notRecognized("section", g)
		}
		return e.taskList(c, p, e.st.sectionTasks(g)), nil
	case q.Has("assignee"):
		ws, err := queryGID(c.r, "workspace")
		if err != nil {
			return nil, err
		}
		e.mu.Lock()
		defer e.mu.Unlock()
		a, err := e.st.resolveAssignee(c.user, q.Get("assignee"))
		if err != nil {
			return nil, err
		}
		var gids []string
		for _, g := range e.st.sortedTaskGIDs() {
			if t := e.st.tasks[g]; t.assignee == a && t.workspace == ws {
				gids = append(gids, g)
			}
		}
		return e.taskList(c, p, gids), nil
	}
	return nil, errorf(http.StatusBadRequest, "Must specify exactly one of project, section, or assignee + workspace")
}

func (e *Emulator) listSectionTasks(c *call) (*result, error) {
	gid, err := pathGID(c.r, "section_gid")
	if err != nil {
		return nil, err
	}
	p, err := parsePaging(c.r)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, err := lookup(e.st.sections, gid); err != nil {
		return nil, err
	}
	return e.taskList(c, p, e.st.sectionTasks(gid)), nil
}

// sectionTasks lists the tasks in a section, in project order.
func (s *state) sectionTasks(sec string) []string {
	sc := s.sections[sec]
	if sc == nil {
		return nil
	}
	var out []string
	for _, g := range s.projects[sc.project].tasks {
		if slices.ContainsFunc(s.tasks[g].memberships, func(m membership) bool { return m.section == sec }) {
			out = append(out, g)
		}
	}
	return out
}

// sortedTaskGIDs returns every task gid in creation order.
func (s *state) sortedTaskGIDs() []string {
	out := make([]string, 0, len(s.tasks))
	for g := range s.tasks {
		out = append(out, g)
	}
	slices.SortFunc(out, cmpGID)
	return out
}

func (e *Emulator) taskList(c *call, p paging, gids []string) *result {
	if c.wantFull() {
		out := make([]taskJSON, 0, len(gids))
		for _, g := range gids {
			out = append(out, e.st.renderTask(e.st.tasks[g]))
		}
		return pageResult(c.r, p, out)
	}
	return pageResult(c.r, p, e.st.compacts(gids))
}

func (e *Emulator) listSubtasks(c *call) (*result, error) {
	gid, err := pathGID(c.r, "task_gid")
	if err != nil {
		return nil, err
	}
	p, err := parsePaging(c.r)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	t, err := lookup(e.st.tasks, gid)
	if err != nil {
		return nil, err
	}
	return e.taskList(c, p, t.subtasks), nil
}

func (e *Emulator) createSubtask(c *call) (*result, error) {
	gid, err := pathGID(c.r, "task_gid")
	if err != nil {
		return nil, err
	}
	name, _, err := c.in.str("name")
	if err != nil {
		return nil, err
	}
	u, err := readTaskUpdate(c.in)
	if err != nil {
		return nil, err
	}
	var ob outbox
	e.mu.Lock()
	if _, err := lookup(e.st.tasks, gid); err != nil {
		e.mu.Unlock()
		return nil, err
	}
	t, err := e.newTaskLocked(&ob, c.user, name, nil, gid, u)
	if err != nil {
		e.mu.Unlock()
		return nil, err
	}
	data := e.st.renderTask(t)
	e.mu.Unlock()
	e.flush(&ob)
	return &result{status: http.StatusCreated, data: data, location: c.location("tasks", t.gid)}, nil
}

func (e *Emulator) setParent(c *call) (*result, error) {
	gid, err := pathGID(c.r, "task_gid")
	if err != nil {
		return nil, err
	}
	if !c.in.has("parent") {
		return nil, missingInput("parent")
	}
	parent, _, err := c.in.nullableStr("parent")
	if err != nil {
		return nil, err
	}
	var ob outbox
	e.mu.Lock()
	defer func() { e.mu.Unlock(); e.flush(&ob) }()
	s := e.st
	t, err := lookup(s.tasks, gid)
	if err != nil {
		return nil, err
	}
	if parent != "" {
		pt, ok := s.tasks[parent]
		if !ok {
			return nil, notRecognized("parent", parent)
		}
		if pt.gid == t.gid || slices.ContainsFunc(s.taskChain(pt), func(a *task) bool { return a.gid == t.gid }) {
			return nil, errorf(http.StatusBadRequest, "parent: Cannot make a task a subtask of itself or of its own subtask")
		}
	}
	if parent == t.parent {
		return &result{data: s.renderTask(t)}, nil
	}
	now := e.clk.Now()
	if old, ok := s.tasks[t.parent]; ok {
		e.emitLocked(&ob, &event{at: now, user: s.refOf(c.user), action: "removed", resource: *s.refOf(t.gid),
			parent: s.refOf(old.gid)})
		old.subtasks = slices.DeleteFunc(old.subtasks, func(g string) bool { return g == t.gid })
	}
	t.parent = parent
	t.modifiedAt = now
	if parent != "" {
		s.tasks[parent].subtasks = append(s.tasks[parent].subtasks, t.gid)
		e.emitLocked(&ob, &event{at: now, user: s.refOf(c.user), action: "added", resource: *s.refOf(t.gid),
			parent: s.refOf(parent)})
	}
	return &result{data: s.renderTask(t)}, nil
}

func (e *Emulator) addProject(c *call) (*result, error) {
	gid, err := pathGID(c.r, "task_gid")
	if err != nil {
		return nil, err
	}
	pg, err := c.in.requiredStr("project")
	if err != nil {
		return nil, err
	}
	sec, _, err := c.in.nullableStr("section")
	if err != nil {
		return nil, err
	}
	var ob outbox
	e.mu.Lock()
	defer func() { e.mu.Unlock(); e.flush(&ob) }()
	s := e.st
	t, err := lookup(s.tasks, gid)
	if err != nil {
		return nil, err
	}
	pr, ok := s.projects[pg]
	if !ok {
		return nil, notRecognized("project", pg)
	}
	if sec != "" {
		sc, ok := s.sections[sec]
		if !ok || sc.project != pr.gid {
			return nil, notRecognized("section", sec)
		}
		e.moveToSectionLocked(&ob, c.user, t, sc)
		return &result{data: struct{}{}}, nil
	}
	if !slices.ContainsFunc(t.memberships, func(m membership) bool { return m.project == pg }) {
		e.addToProjectLocked(&ob, c.user, t, pr, "", e.clk.Now())
	}
	return &result{data: struct{}{}}, nil
}

func (e *Emulator) removeProject(c *call) (*result, error) {
	gid, err := pathGID(c.r, "task_gid")
	if err != nil {
		return nil, err
	}
	pg, err := c.in.requiredStr("project")
	if err != nil {
		return nil, err
	}
	var ob outbox
	e.mu.Lock()
	defer func() { e.mu.Unlock(); e.flush(&ob) }()
	s := e.st
	t, err := lookup(s.tasks, gid)
	if err != nil {
		return nil, err
	}
	pr, ok := s.projects[pg]
	if !ok {
		return nil, notRecognized("project", pg)
	}
	i := slices.IndexFunc(t.memberships, func(m membership) bool { return m.project == pg })
	if i < 0 {
		return &result{data: struct{}{}}, nil
	}
	// The event's scope is computed before the removal so the project's
	// webhooks see it.
	scope := s.ancestors(t.gid)
	t.memberships = slices.Delete(t.memberships, i, i+1)
	pr.tasks = slices.DeleteFunc(pr.tasks, func(g string) bool { return g == t.gid })
	t.modifiedAt = e.clk.Now()
	e.emitLocked(&ob, &event{user: s.refOf(c.user), action: "removed", resource: *s.refOf(t.gid),
		parent: s.refOf(pr.gid), scope: scope})
	return &result{data: struct{}{}}, nil
}

func (e *Emulator) changeFollowers(c *call, add bool) (*result, error) {
	gid, err := pathGID(c.r, "task_gid")
	if err != nil {
		return nil, err
	}
	users, present, err := c.in.gids("followers")
	if err != nil {
		return nil, err
	}
	if !present || len(users) == 0 {
		return nil, missingInput("followers")
	}
	var ob outbox
	e.mu.Lock()
	defer func() { e.mu.Unlock(); e.flush(&ob) }()
	s := e.st
	t, err := lookup(s.tasks, gid)
	if err != nil {
		return nil, err
	}
	resolved := make([]string, 0, len(users))
	for _, u := range users {
		g, err := s.resolveAssignee(c.user, u)
		if err != nil || g == "" {
			return nil, notRecognized("followers", u)
		}
		resolved = append(resolved, g)
	}
	now := e.clk.Now()
	for _, g := range resolved {
		has := slices.Contains(t.followers, g)
		switch {
		case add && !has:
			t.followers = append(t.followers, g)
			e.emitLocked(&ob, &event{at: now, user: s.refOf(c.user), action: "changed", resource: *s.refOf(t.gid),
				change: &change{field: "followers", action: "added", addedValue: s.refOf(g)}})
		case !add && has:
			t.followers = slices.DeleteFunc(t.followers, func(x string) bool { return x == g })
			e.emitLocked(&ob, &event{at: now, user: s.refOf(c.user), action: "changed", resource: *s.refOf(t.gid),
				change: &change{field: "followers", action: "removed", removedValue: s.refOf(g)}})
		default:
			continue
		}
		t.modifiedAt = now
	}
	return &result{data: s.renderTask(t)}, nil
}

func (e *Emulator) addFollowers(c *call) (*result, error)    { return e.changeFollowers(c, true) }
func (e *Emulator) removeFollowers(c *call) (*result, error) { return e.changeFollowers(c, false) }

func (e *Emulator) createStory(c *call) (*result, error) {
	gid, err := pathGID(c.r, "task_gid")
	if err != nil {
		return nil, err
	}
	text, present, err := c.in.str("text")
	if err != nil {
		return nil, err
	}
	if !present {
		if _, hasHTML := c.in.fields["html_text"]; !hasHTML {
			return nil, missingInput("text")
		}
		text, _, err = c.in.str("html_text")
		if err != nil {
			return nil, err
		}
	}
	var ob outbox
	e.mu.Lock()
	st, err := e.addCommentLocked(&ob, c.user, gid, text)
	if err != nil {
		e.mu.Unlock()
		return nil, err
	}
	data := e.st.renderStory(st)
	e.mu.Unlock()
	e.flush(&ob)
	return &result{status: http.StatusCreated, data: data, location: c.location("stories", st.gid)}, nil
}

func (e *Emulator) addCommentLocked(ob *outbox, actor, taskGID, text string) (*story, error) {
	s := e.st
	t, err := lookup(s.tasks, taskGID)
	if err != nil {
		return nil, err
	}
	now := e.clk.Now()
	st := &story{gid: s.newGID(), text: text, task: t.gid, createdBy: actor, createdAt: now}
	s.stories[st.gid] = st
	e.emitLocked(ob, &event{at: now, user: s.refOf(actor), action: "added", resource: *s.refOf(st.gid),
		parent: s.refOf(t.gid)})
	return st, nil
}

func (e *Emulator) listStories(c *call) (*result, error) {
	gid, err := pathGID(c.r, "task_gid")
	if err != nil {
		return nil, err
	}
	p, err := parsePaging(c.r)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, err := lookup(e.st.tasks, gid); err != nil {
		return nil, err
	}
	var list []*story
	for _, st := range e.st.stories {
		if st.task == gid {
			list = append(list, st)
		}
	}
	slices.SortFunc(list, func(a, b *story) int {
		if c := a.createdAt.Compare(b.createdAt); c != 0 {
			return c
		}
		return cmpGID(a.gid, b.gid)
	})
	if c.wantFull() {
		out := make([]storyJSON, 0, len(list))
		for _, st := range list {
			out = append(out, e.st.renderStory(st))
		}
		return pageResult(c.r, p, out), nil
	}
	out := make([]storyCompact, 0, len(list))
	for _, st := range list {
		out = append(out, storyCompact{GID: st.gid, ResourceType: typeStory, CreatedAt: e.st.renderStory(st).CreatedAt,
			CreatedBy: e.st.compactOf(st.createdBy), ResourceSubtype: "comment_added", Text: st.text})
	}
	return pageResult(c.r, p, out), nil
}

// cmpGID orders numeric gids by value.
func cmpGID(a, b string) int {
	if len(a) != len(b) {
		return len(a) - len(b)
	}
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (e *Emulator) getStory(c *call) (*result, error) {
	gid, err := pathGID(c.r, "story_gid")
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	st, err := lookup(e.st.stories, gid)
	if err != nil {
		return nil, err
	}
	return &result{data: e.st.renderStory(st)}, nil
}
