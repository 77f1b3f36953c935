package emulator

import (
	"github.com/asana-webhooks/asana-webhooks/asana"
)

// compact is a compact record: gid, resource_type, name (and a subtype for
// tasks).
type compact struct {
	GID             string `json:"gid"`
	ResourceType    string `json:"resource_type"`
	Name            string `json:"name"`
	ResourceSubtype string `json:"resource_subtype,omitempty"`
}

func (s *state) compactOf(gid string) *compact {
	r := s.refOf(gid)
	if r == nil {
		return nil
	}
	c := &compact{GID: r.gid, ResourceType: r.typ, Name: r.name}
	if r.typ == typeTask {
		c.ResourceSubtype = r.subtype
	}
	return c
}

func (s *state) compacts(gids []string) []*compact {
	out := make([]*compact, 0, len(gids))
	for _, g := range gids {
		if c := s.compactOf(g); c != nil {
			out = append(out, c)
		}
	}
	return out
}

type userJSON struct {
	GID          string     `json:"gid"`
	ResourceType string     `json:"resource_type"`
	Name         string     `json:"name"`
	Email        string     `json:"email"`
	Photo        *struct{}  `json:"photo"`
	Workspaces   []*compact `json:"workspaces"`
}

func (s *state) renderUser(u *user) userJSON {
	return userJSON{GID: u.gid, ResourceType: typeUser, Name: u.name, Email: u.email, Workspaces: s.compacts(s.wsOrder)}
}

type workspaceJSON struct {
	GID            string   `json:"gid"`
	ResourceType   string   `json:"resource_type"`
	Name           string   `json:"name"`
	EmailDomains   []string `json:"email_domains"`
	IsOrganization bool     `json:"is_organization"`
}

func renderWorkspace(w *workspace) workspaceJSON {
	d := w.emailDomains
	if d == nil {
		d = []string{}
	}
	return workspaceJSON{GID: w.gid, ResourceType: typeWorkspace, Name: w.name, EmailDomains: d, IsOrganization: w.isOrg}
}

type projectJSON struct {
	GID          string      `json:"gid"`
	ResourceType string      `json:"resource_type"`
	Name         string      `json:"name"`
	Archived     bool        `json:"archived"`
	Color        *string     `json:"color"`
	CreatedAt    asana.Time  `json:"created_at"`
	ModifiedAt   asana.Time  `json:"modified_at"`
	DueOn        *string     `json:"due_on"`
	Notes        string      `json:"notes"`
	Completed    bool        `json:"completed"`
	CompletedAt  *asana.Time `json:"completed_at"`
	Members      []*compact  `json:"members"`
	Followers    []*compact  `json:"followers"`
	Owner        *compact    `json:"owner"`
	Public       bool        `json:"public"`
	Workspace    *compact    `json:"workspace"`
	PermalinkURL string      `json:"permalink_url"`
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func (s *state) renderProject(p *project) projectJSON {
	return projectJSON{
		GID: p.gid, ResourceType: typeProject, Name: p.name, Archived: p.archived, Color: strPtr(p.color),
		CreatedAt: asana.NewTime(p.createdAt), ModifiedAt: asana.NewTime(p.modifiedAt), DueOn: strPtr(p.dueOn),
		Notes: p.notes, Members: s.compacts(p.members), Followers: s.compacts(p.followers),
		Owner: s.compactOf(p.owner), Public: true, Workspace: s.compactOf(p.workspace),
		PermalinkURL: "https://app.asana.com/0/" + p.gid + "/" + p.gid,
	}
}

type sectionJSON struct {
	GID          string     `json:"gid"`
	ResourceType string     `json:"resource_type"`
	Name         string     `json:"name"`
	CreatedAt    asana.Time `json:"created_at"`
	Project      *compact   `json:"project"`
	Projects     []*compact `json:"projects"`
}

func (s *state) renderSection(sc *section) sectionJSON {
	return sectionJSON{GID: sc.gid, ResourceType: typeSection, Name: sc.name, CreatedAt: asana.NewTime(sc.createdAt),
		Project: s.compactOf(sc.project), Projects: s.compacts([]string{sc.project})}
}

type membershipJSON struct {
	Project *compact `json:"project"`
	Section *compact `json:"section,omitempty"`
}

type taskJSON struct {
	GID             string           `json:"gid"`
	ResourceType    string           `json:"resource_type"`
	Name            string           `json:"name"`
	ResourceSubtype string           `json:"resource_subtype"`
	Assignee        *compact         `json:"assignee"`
	Completed       bool             `json:"completed"`
	CompletedAt     *asana.Time      `json:"completed_at"`
	CompletedBy     *compact         `json:"completed_by"`
	CreatedAt       asana.Time       `json:"created_at"`
	CreatedBy       *wireRef         `json:"created_by"`
	DueAt           *string          `json:"due_at"`
	DueOn           *string          `json:"due_on"`
	Followers       []*compact       `json:"followers"`
	Memberships     []membershipJSON `json:"memberships"`
	ModifiedAt      asana.Time       `json:"modified_at"`
	Notes           string           `json:"notes"`
	NumSubtasks     int              `json:"num_subtasks"`
	Parent          *compact         `json:"parent"`
	PermalinkURL    string           `json:"permalink_url"`
	Projects        []*compact       `json:"projects"`
	StartOn         *string          `json:"start_on"`
	Tags            []*compact       `json:"tags"`
	Workspace       *compact         `json:"workspace"`
}

func (s *state) renderTask(t *task) taskJSON {
	j := taskJSON{
		GID: t.gid, ResourceType: typeTask, Name: t.name, ResourceSubtype: t.subtype,
		Assignee: s.compactOf(t.assignee), Completed: t.completed, CreatedAt: asana.NewTime(t.createdAt),
		DueOn: strPtr(t.dueOn), Followers: s.compacts(t.followers), Memberships: []membershipJSON{},
		ModifiedAt: asana.NewTime(t.modifiedAt), Notes: t.notes, NumSubtasks: len(t.subtasks),
		Parent: s.compactOf(t.parent), Projects: []*compact{}, Tags: []*compact{}, Workspace: s.compactOf(t.workspace),
	}
	if t.createdBy != "" {
		j.CreatedBy = &wireRef{GID: t.createdBy, ResourceType: typeUser}
	}
	if t.completed {
		j.CompletedAt = asana.TimePtr(t.completedAt)
		j.CompletedBy = s.compactOf(t.completedBy)
	}
	proj := "0"
	for _, m := range t.memberships {
		mj := membershipJSON{Project: s.compactOf(m.project)}
		if m.section != "" {
			mj.Section = s.compactOf(m.section)
		}
		j.Memberships = append(j.Memberships, mj)
		j.Projects = append(j.Projects, s.compactOf(m.project))
		if proj == "0" {
			proj = m.project
		}
	}
	j.PermalinkURL = "https://app.asana.com/0/" + proj + "/" + t.gid
	return j
}

type storyJSON struct {
	GID             string     `json:"gid"`
	ResourceType    string     `json:"resource_type"`
	CreatedAt       asana.Time `json:"created_at"`
	CreatedBy       *compact   `json:"created_by"`
	ResourceSubtype string     `json:"resource_subtype"`
	Text            string     `json:"text"`
	Type            string     `json:"type"`
	IsPinned        bool       `json:"is_pinned"`
	IsEdited        bool       `json:"is_edited"`
	IsEditable      bool       `json:"is_editable"`
	Target          *compact   `json:"target"`
}

func (s *state) renderStory(st *story) storyJSON {
	return storyJSON{GID: st.gid, ResourceType: typeStory, CreatedAt: asana.NewTime(st.createdAt),
		CreatedBy: s.compactOf(st.createdBy), ResourceSubtype: "comment_added", Text: st.text, Type: "comment",
		IsEditable: true, Target: s.compactOf(st.task)}
}

// storyCompact is the compact form of a story, for lists.
type storyCompact struct {
	GID             string     `json:"gid"`
	ResourceType    string     `json:"resource_type"`
	CreatedAt       asana.Time `json:"created_at"`
	CreatedBy       *compact   `json:"created_by"`
	ResourceSubtype string     `json:"resource_subtype"`
	Text            string     `json:"text"`
}
