package emulator

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/asana-webhooks/asana-webhooks/asana"
)

// gidBase is the first gid the emulator hands out; gids are 16 digits like
// Asana's recent ones.
const gidBase = 1200000000000001

// Resource types.
const (
	typeUser      = "user"
	typeWorkspace = "workspace"
	typeProject   = "project"
	typeSection   = "section"
	typeTask      = "task"
	typeStory     = "story"
	typeWebhook   = "webhook"
	typeTeam      = "team"
	typePortfolio = "portfolio"
)

type user struct {
	gid, name, email string
}

type workspace struct {
	gid, name    string
	isOrg        bool
	emailDomains []string
}

type project struct {
	gid, name, notes, color string
	workspace               string
	archived                bool
	dueOn                   string
	owner                   string
	members                 []string
	followers               []string
	createdAt, modifiedAt   time.Time
	sections                []string // in order
	tasks                   []string // tasks in the project, in order
}

type section struct {
	gid, name, project string
	createdAt          time.Time
}

type membership struct {
	project, section string
}

type task struct {
	gid, name, notes, subtype string
	workspace                 string
	completed                 bool
	completedAt               time.Time
	completedBy               string
	assignee                  string
	dueOn                     string
	createdBy                 string
	createdAt, modifiedAt     time.Time
	parent                    string
	subtasks                  []string
	memberships               []membership
	followers                 []string
}

type story struct {
	gid, text, task, createdBy string
	createdAt                  time.Time
}

// hook is a webhook as the emulator stores it; delivery health comes from
// the engine.
type hook struct {
	gid       string
	token     string
	resource  string
	resType   string
	resName   string // kept for when the resource is gone
	workspace string
	target    string
	secret    asana.Secret
	filters   []asana.Filter
	createdAt time.Time
	// handshakeAt is when the handshake succeeded.
	handshakeAt time.Time
}

// state is everything the emulator knows; it is guarded by Emulator.mu.
type state struct {
	nextGID    int64
	users      map[string]*user
	userOrder  []string
	tokens     map[string]string // token -> user gid
	workspaces map[string]*workspace
	wsOrder    []string
	projects   map[string]*project
	projOrder  []string
	sections   map[string]*section
	tasks      map[string]*task
	stories    map[string]*story
	hooks      map[string]*hook
	hookOrder  []string
	// firstWorkspace and firstProject are the seeded ones Server reports.
	firstWorkspace, firstProject string
}

func (s *state) newGID() string {
	for {
		g := strconv.FormatInt(s.nextGID, 10)
		s.nextGID++
		if !s.exists(g) {
			return g
		}
	}
}

// exists reports whether any object has gid g.
func (s *state) exists(g string) bool {
	_, t := s.kind(g)
	return t != ""
}

// kind returns the resource type of gid g, or "".
func (s *state) kind(g string) (any, string) {
	if v, ok := s.users[g]; ok {
		return v, typeUser
	}
	if v, ok := s.workspaces[g]; ok {
		return v, typeWorkspace
	}
	if v, ok := s.projects[g]; ok {
		return v, typeProject
	}
	if v, ok := s.sections[g]; ok {
		return v, typeSection
	}
	if v, ok := s.tasks[g]; ok {
		return v, typeTask
	}
	if v, ok := s.stories[g]; ok {
		return v, typeStory
	}
	if v, ok := s.hooks[g]; ok {
		return v, typeWebhook
	}
	return nil, ""
}

// newState builds the state from a seed and the tokens.
func newState(seed *Seed, tokens []string, now time.Time) (*state, error) {
	s := &state{
		nextGID:    gidBase,
		users:      map[string]*user{},
		tokens:     map[string]string{},
		workspaces: map[string]*workspace{},
		projects:   map[string]*project{},
		sections:   map[string]*section{},
		tasks:      map[string]*task{},
		stories:    map[string]*story{},
		hooks:      map[string]*hook{},
	}
	// Explicit gids are reserved first so generated ones never collide.
	reserved := map[string]bool{}
	reserve := func(g string) error {
		if g == "" {
			return nil
		}
		if reserved[g] {
			return fmt.Errorf("gid %s used twice", g)
		}
		reserved[g] = true
		return nil
	}
	var walk func([]SeedTask) error
	walk = func(ts []SeedTask) error {
		for _, t := range ts {
			if err := reserve(t.GID); err != nil {
				return err
			}
			if err := walk(t.Subtasks); err != nil {
				return err
			}
		}
		return nil
	}
	for _, u := range seed.Users {
		if err := reserve(u.GID); err != nil {
			return nil, err
		}
	}
	for _, w := range seed.Workspaces {
		if err := reserve(w.GID); err != nil {
			return nil, err
		}
		for _, p := range w.Projects {
			if err := reserve(p.GID); err != nil {
				return nil, err
			}
			for _, sec := range p.Sections {
				if err := reserve(sec.GID); err != nil {
					return nil, err
				}
			}
			if err := walk(p.Tasks); err != nil {
				return nil, err
			}
		}
	}
	gid := func(explicit string) string {
		if explicit != "" {
			return explicit
		}
		for {
			g := strconv.FormatInt(s.nextGID, 10)
			s.nextGID++
			if !reserved[g] {
				reserved[g] = true
				return g
			}
		}
	}

	for _, u := range seed.Users {
		nu := &user{gid: gid(u.GID), name: u.Name, email: u.Email}
		s.users[nu.gid] = nu
		s.userOrder = append(s.userOrder, nu.gid)
	}
	if len(s.userOrder) == 0 {
		// A seed without users still needs one for the first token, who
		// owns and creates the seeded objects.
		nu := &user{gid: gid(""), name: "Emulator User 1", email: "user1@emulator.example"}
		s.users[nu.gid] = nu
		s.userOrder = append(s.userOrder, nu.gid)
	}
	findUser := func(ref string) string {
		for _, g := range s.userOrder {
			u := s.users[g]
			if u.gid == ref || u.email == ref || u.name == ref {
				return g
			}
		}
		return ""
	}
	owner := ""
	if len(s.userOrder) > 0 {
		owner = s.userOrder[0]
	}
	for _, w := range seed.Workspaces {
		ws := &workspace{gid: gid(w.GID), name: w.Name, isOrg: w.IsOrganization, emailDomains: w.EmailDomains}
		s.workspaces[ws.gid] = ws
		s.wsOrder = append(s.wsOrder, ws.gid)
		if s.firstWorkspace == "" {
			s.firstWorkspace = ws.gid
		}
		for _, p := range w.Projects {
			pr := &project{gid: gid(p.GID), name: p.Name, notes: p.Notes, color: p.Color, workspace: ws.gid,
				owner: owner, members: slices.Clone(s.userOrder), followers: []string{},
				createdAt: now, modifiedAt: now}
			if owner != "" {
				pr.followers = []string{owner}
			}
			s.projects[pr.gid] = pr
			s.projOrder = append(s.projOrder, pr.gid)
			if s.firstProject == "" {
				s.firstProject = pr.gid
			}
			secByName := map[string]string{}
			for _, sec := range p.Sections {
				sc := &section{gid: gid(sec.GID), name: sec.Name, project: pr.gid, createdAt: now}
				s.sections[sc.gid] = sc
				pr.sections = append(pr.sections, sc.gid)
				secByName[sc.name] = sc.gid
			}
			var add func(ts []SeedTask, parent string)
			add = func(ts []SeedTask, parent string) {
				for _, st := range ts {
					t := &task{gid: gid(st.GID), name: st.Name, notes: st.Notes, subtype: "default_task",
						workspace: ws.gid, completed: st.Completed, assignee: findUser(st.Assignee),
						dueOn: st.DueOn, createdBy: owner, createdAt: now, modifiedAt: now, parent: parent}
					if st.Completed {
						t.completedAt = now
						t.completedBy = owner
					}
					if owner != "" {
						t.followers = append(t.followers, owner)
					}
					if t.assignee != "" && t.assignee != owner {
						t.followers = append(t.followers, t.assignee)
					}
					for _, f := range st.Followers {
						if g := findUser(f); g != "" && !slices.Contains(t.followers, g) {
							t.followers = append(t.followers, g)
						}
					}
					s.tasks[t.gid] = t
					if parent == "" {
						sec := secByName[st.Section]
						if sec == "" && len(pr.sections) > 0 {
							sec = pr.sections[0]
						}
						t.memberships = []membership{{project: pr.gid, section: sec}}
						pr.tasks = append(pr.tasks, t.gid)
					} else {
						s.tasks[parent].subtasks = append(s.tasks[parent].subtasks, t.gid)
					}
					add(st.Subtasks, t.gid)
				}
			}
			add(p.Tasks, "")
		}
	}
	// Tokens beyond the seeded users get users of their own, after every
	// seeded object so that the seed's gids do not depend on the tokens.
	seeded := len(s.userOrder)
	for i, tok := range tokens {
		if _, dup := s.tokens[tok]; dup {
			return nil, fmt.Errorf("token #%d given twice", i+1)
		}
		if i < seeded {
			s.tokens[tok] = s.userOrder[i]
			continue
		}
		nu := &user{gid: gid(""), name: fmt.Sprintf("Emulator User %d", i+1), email: fmt.Sprintf("user%d@emulator.example", i+1)}
		s.users[nu.gid] = nu
		s.userOrder = append(s.userOrder, nu.gid)
		s.tokens[tok] = nu.gid
		for _, pg := range s.projOrder {
			s.projects[pg].members = append(s.projects[pg].members, nu.gid)
		}
	}
	return s, nil
}

// userForToken returns the user gid of a token, or "".
func (s *state) userForToken(tok string) string { return s.tokens[tok] }

// taskChain returns t's ancestors: its parent, grandparent...
func (s *state) taskChain(t *task) []*task {
	var out []*task
	seen := map[string]bool{t.gid: true}
	for p := s.tasks[t.parent]; p != nil && !seen[p.gid]; p = s.tasks[p.parent] {
		seen[p.gid] = true
		out = append(out, p)
	}
	return out
}

// ancestors returns the gids whose webhooks and event streams see events on
// gid: the object itself, then its containers up to the workspace.
func (s *state) ancestors(gid string) []string {
	var out []string
	add := func(g string) {
		if g != "" && !slices.Contains(out, g) {
			out = append(out, g)
		}
	}
	add(gid)
	obj, kind := s.kind(gid)
	switch kind {
	case typeStory:
		if t := s.tasks[obj.(*story).task]; t != nil {
			for _, g := range s.ancestors(t.gid) {
				add(g)
			}
		}
	case typeTask:
		t := obj.(*task)
		chain := append([]*task{t}, s.taskChain(t)...)
		for _, c := range chain {
			add(c.gid)
		}
		for _, c := range chain {
			for _, m := range c.memberships {
				add(m.section)
				add(m.project)
			}
		}
		add(t.workspace)
	case typeSection:
		if p := s.projects[obj.(*section).project]; p != nil {
			add(p.gid)
			add(p.workspace)
		}
	case typeProject:
		add(obj.(*project).workspace)
	}
	return out
}

// workspaceOf returns the workspace gid of an object, or "".
func (s *state) workspaceOf(gid string) string {
	obj, kind := s.kind(gid)
	switch kind {
	case typeWorkspace:
		return gid
	case typeProject:
		return obj.(*project).workspace
	case typeSection:
		if p := s.projects[obj.(*section).project]; p != nil {
			return p.workspace
		}
	case typeTask:
		return obj.(*task).workspace
	case typeStory:
		if t := s.tasks[obj.(*story).task]; t != nil {
			return t.workspace
		}
	case typeUser:
		if len(s.wsOrder) > 0 {
			return s.wsOrder[0]
		}
	}
	return ""
}

// nameOf returns the display name of an object for compact records.
func (s *state) nameOf(gid string) string {
	obj, kind := s.kind(gid)
	switch kind {
	case typeUser:
		return obj.(*user).name
	case typeWorkspace:
		return obj.(*workspace).name
	case typeProject:
		return obj.(*project).name
	case typeSection:
		return obj.(*section).name
	case typeTask:
		return obj.(*task).name
	case typeStory:
		return obj.(*story).text
	}
	return ""
}
