package emulator

import (
	"fmt"
	"os"

	"github.com/goccy/go-yaml"
)

// Seed is the emulator's initial data. It reads from YAML or JSON (JSON is
// YAML). Gids are assigned in document order unless given, so the same seed
// always yields the same gids.
type Seed struct {
	// Users are the seeded users, in token order (see Config.Tokens).
	Users []SeedUser `json:"users" yaml:"users"`
	// Workspaces hold the projects, sections and tasks.
	Workspaces []SeedWorkspace `json:"workspaces" yaml:"workspaces"`
}

// SeedUser is a user of the seed.
type SeedUser struct {
	GID   string `json:"gid,omitempty" yaml:"gid,omitempty"`
	Name  string `json:"name" yaml:"name"`
	Email string `json:"email,omitempty" yaml:"email,omitempty"`
}

// SeedWorkspace is a workspace of the seed with its projects.
type SeedWorkspace struct {
	GID            string        `json:"gid,omitempty" yaml:"gid,omitempty"`
	Name           string        `json:"name" yaml:"name"`
	IsOrganization bool          `json:"is_organization,omitempty" yaml:"is_organization,omitempty"`
	EmailDomains   []string      `json:"email_domains,omitempty" yaml:"email_domains,omitempty"`
	Projects       []SeedProject `json:"projects,omitempty" yaml:"projects,omitempty"`
}

// SeedProject is a project of the seed: its sections in order, and its tasks.
type SeedProject struct {
	GID      string        `json:"gid,omitempty" yaml:"gid,omitempty"`
	Name     string        `json:"name" yaml:"name"`
	Notes    string        `json:"notes,omitempty" yaml:"notes,omitempty"`
	Color    string        `json:"color,omitempty" yaml:"color,omitempty"`
	Sections []SeedSection `json:"sections,omitempty" yaml:"sections,omitempty"`
	Tasks    []SeedTask    `json:"tasks,omitempty" yaml:"tasks,omitempty"`
}

// SeedSection is a section of a project.
type SeedSection struct {
	GID  string `json:"gid,omitempty" yaml:"gid,omitempty"`
	Name string `json:"name" yaml:"name"`
}

// SeedTask is a task of a project. Section names the section it sits in (the
// first section when empty); Assignee and Followers name users by email, name
// or gid.
type SeedTask struct {
	GID       string     `json:"gid,omitempty" yaml:"gid,omitempty"`
	Name      string     `json:"name" yaml:"name"`
	Notes     string     `json:"notes,omitempty" yaml:"notes,omitempty"`
	Section   string     `json:"section,omitempty" yaml:"section,omitempty"`
	Assignee  string     `json:"assignee,omitempty" yaml:"assignee,omitempty"`
	Followers []string   `json:"followers,omitempty" yaml:"followers,omitempty"`
	Completed bool       `json:"completed,omitempty" yaml:"completed,omitempty"`
	DueOn     string     `json:"due_on,omitempty" yaml:"due_on,omitempty"`
	Subtasks  []SeedTask `json:"subtasks,omitempty" yaml:"subtasks,omitempty"`
}

// DefaultSeed returns the built-in seed: workspace "Acme Corp" with project
// "Launch plan" (sections To do, Doing, Done), a few tasks and two users.
func DefaultSeed() *Seed {
	return &Seed{
		Users: []SeedUser{
			{Name: "Ada Lovelace", Email: "ada@acme.example"},
			{Name: "Grace Hopper", Email: "grace@acme.example"},
		},
		Workspaces: []SeedWorkspace{{
			Name:           "Acme Corp",
			IsOrganization: true,
			EmailDomains:   []string{"acme.example"},
			Projects: []SeedProject{{
				Name:     "Launch plan",
				Notes:    "Everything we need for the launch.",
				Color:    "light-green",
				Sections: []SeedSection{{Name: "To do"}, {Name: "Doing"}, {Name: "Done"}},
				Tasks: []SeedTask{
					{Name: "Write the announcement", Section: "To do", Assignee: "ada@acme.example",
						Subtasks: []SeedTask{{Name: "Draft"}, {Name: "Review"}}},
					{Name: "Book the venue", Section: "Doing", Assignee: "grace@acme.example", DueOn: "2026-12-18"},
					{Name: "Pick a name", Section: "Done", Completed: true},
				},
			}},
		}},
	}
}

// ParseSeed reads a seed from YAML or JSON.
func ParseSeed(data []byte) (*Seed, error) {
	var s Seed
	if err := yaml.UnmarshalWithOptions(data, &s, yaml.Strict()); err != nil {
		return nil, fmt.Errorf("parse seed: %w", err)
	}
	if err := s.validate(); err != nil {
		return nil, fmt.Errorf("parse seed: %w", err)
	}
	return &s, nil
}

// LoadSeed reads a seed file, YAML or JSON.
func LoadSeed(path string) (*Seed, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load seed: %w", err)
	}
	s, err := ParseSeed(data)
	if err != nil {
		return nil, fmt.Errorf("load seed %s: %w", path, err)
	}
	return s, nil
}

// validate checks what the emulator needs: at least one workspace, names,
// numeric gids, sections that exist.
func (s *Seed) validate() error {
	if len(s.Workspaces) == 0 {
		return fmt.Errorf("seed has no workspace")
	}
	for _, u := range s.Users {
		if err := checkSeedGID(u.GID); err != nil {
			return fmt.Errorf("user %q: %w", u.Name, err)
		}
	}
	for _, w := range s.Workspaces {
		if w.Name == "" {
			return fmt.Errorf("workspace without a name")
		}
		if err := checkSeedGID(w.GID); err != nil {
			return fmt.Errorf("workspace %q: %w", w.Name, err)
		}
		for _, p := range w.Projects {
			if p.Name == "" {
				return fmt.Errorf("workspace %q: project without a name", w.Name)
			}
			if err := checkSeedGID(p.GID); err != nil {
				return fmt.Errorf("project %q: %w", p.Name, err)
			}
			names := map[string]bool{}
			for _, sec := range p.Sections {
				if err := checkSeedGID(sec.GID); err != nil {
					return fmt.Errorf("section %q: %w", sec.Name, err)
				}
				names[sec.Name] = true
			}
			if err := checkSeedTasks(p.Tasks, names, true); err != nil {
				return fmt.Errorf("project %q: %w", p.Name, err)
			}
		}
	}
	return nil
}

func checkSeedTasks(tasks []SeedTask, sections map[string]bool, top bool) error {
	for _, t := range tasks {
		if t.Name == "" {
			return fmt.Errorf("task without a name")
		}
		if err := checkSeedGID(t.GID); err != nil {
			return fmt.Errorf("task %q: %w", t.Name, err)
		}
		if t.Section != "" && (!top || !sections[t.Section]) {
			return fmt.Errorf("task %q: unknown section %q", t.Name, t.Section)
		}
		if err := checkSeedTasks(t.Subtasks, sections, false); err != nil {
			return fmt.Errorf("subtask of %q: %w", t.Name, err)
		}
	}
	return nil
}

func checkSeedGID(gid string) error {
	if gid == "" {
		return nil
	}
	if !isGID(gid) {
		return fmt.Errorf("gid %q is not a string of digits", gid)
	}
	return nil
}

// isGID reports whether s looks like an Asana gid: 1 to 30 digits.
func isGID(s string) bool {
	if s == "" || len(s) > 30 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
