package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/drover-dev/drover/internal/status"
)

func topCommand() command {
	return command{
		admin: true, name: "top", synopsis: "drover top [--address ADDR] [--interval DURATION]",
		about: `Shows a running drover in the terminal, refreshed live: its components with
events per second in and out, errors, discarded events, bytes behind and
sink queues, and every target (task stream, file, pod, journal) with its
state, position and lag.

Keys: tab switches between components and targets; s changes the sort
order; / filters (enter keeps the filter, esc clears it); up, down, page
up, page down scroll; ? shows the keys; q quits.`,
		flags: func(fs *flag.FlagSet) func([]string, io.Writer, io.Writer) int {
			client := adminFlags(fs)
			interval := fs.Duration("interval", time.Second, "refresh every `DURATION`")
			return func(args []string, stdout, stderr io.Writer) int {
				if len(args) > 0 {
					return unexpected("top", args, stderr)
				}
				c, err := client()
				if err != nil {
					fmt.Fprintf(stderr, "drover top: %v\n", err)
					return 2
				}
				if *interval < 100*time.Millisecond {
					*interval = 100 * time.Millisecond
				}
				m := newTopModel(c, *interval)
				p := tea.NewProgram(m, tea.WithAltScreen(), tea.WithInput(os.Stdin), tea.WithOutput(stdout))
				if _, err := p.Run(); err != nil {
					fmt.Fprintf(stderr, "drover top: %v\n", err)
					return 1
				}
				return 0
			}
		},
	}
}

// topModel is drover top's state (bubbletea's Model).
type topModel struct {
	c        *adminClient
	interval time.Duration

	st      *status.Status
	err     error
	width   int
	height  int
	targets bool // the targets view, else the components view
	sortBy  int
	filter  string
	editing bool // typing a filter
	help    bool
	offset  int
}

type statusMsg struct {
	st  status.Status
	err error
}

type tickMsg struct{}

func newTopModel(c *adminClient, interval time.Duration) *topModel {
	return &topModel{c: c, interval: interval, width: 120, height: 30}
}

func (m *topModel) fetch() tea.Cmd {
	return func() tea.Msg {
		st, err := m.c.status(context.Background())
		return statusMsg{st: st, err: err}
	}
}

// Init implements tea.Model.
func (m *topModel) Init() tea.Cmd { return m.fetch() }

var (
	componentSorts = []string{"kind", "events in", "events out", "errors", "behind"}
	targetSorts    = []string{"behind", "state", "name", "last read"}
)

// Update implements tea.Model.
func (m *topModel) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
	case statusMsg:
		if msg.err != nil {
			m.err = msg.err
		} else {
			m.err, m.st = nil, &msg.st
		}
		return m, tea.Tick(m.interval, func(time.Time) tea.Msg { return tickMsg{} })
	case tickMsg:
		return m, m.fetch()
	case tea.KeyMsg:
		if msg.Type == tea.KeyRunes && len(msg.Runes) > 1 && !msg.Paste {
			// Keys typed faster than they are read come together: take
			// them one by one ("/web" is a filter, not one unknown key).
			var cmd tea.Cmd
			for _, r := range msg.Runes {
				if _, c := m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}}); c != nil && cmd == nil {
					cmd = c
				}
			}
			return m, cmd
		}
		if m.editing {
			switch msg.Type {
			case tea.KeyEnter:
				m.editing = false
			case tea.KeyEsc:
				m.editing, m.filter = false, ""
			case tea.KeyBackspace:
				if r := []rune(m.filter); len(r) > 0 {
					m.filter = string(r[:len(r)-1])
				}
			case tea.KeyRunes, tea.KeySpace:
				m.filter += string(msg.Runes)
			case tea.KeyCtrlC:
				return m, tea.Quit
			}
			m.offset = 0
			return m, nil
		}
		switch msg.String() {
		case "q", "ctrl+c":
			return m, tea.Quit
		case "tab", "t", "c":
			m.targets = !m.targets
			if msg.String() == "t" {
				m.targets = true
			} else if msg.String() == "c" {
				m.targets = false
			}
			m.sortBy, m.offset = 0, 0
		case "s":
			n := len(componentSorts)
			if m.targets {
				n = len(targetSorts)
			}
			m.sortBy = (m.sortBy + 1) % n
		case "/":
			m.editing = true
		case "esc":
			m.filter, m.help = "", false
		case "?", "h":
			m.help = !m.help
		case "up", "k":
			m.offset = max(m.offset-1, 0)
		case "down", "j":
			m.offset++
		case "pgup":
			m.offset = max(m.offset-m.pageRows(), 0)
		case "pgdown", " ":
			m.offset += m.pageRows()
		case "home", "g":
			m.offset = 0
		}
	}
	return m, nil
}

func (m *topModel) pageRows() int { return max(m.height-6, 1) }

var (
	titleStyle  = lipgloss.NewStyle().Bold(true)
	headerStyle = lipgloss.NewStyle().Bold(true).Reverse(true)
	stateStyles = map[string]lipgloss.Style{
		"ok": lipgloss.NewStyle().Foreground(lipgloss.Color("2")), "following": lipgloss.NewStyle().Foreground(lipgloss.Color("2")),
		"degraded": lipgloss.NewStyle().Foreground(lipgloss.Color("3")), "draining": lipgloss.NewStyle().Foreground(lipgloss.Color("3")),
		"parked": lipgloss.NewStyle().Foreground(lipgloss.Color("3")), "waiting_for_file": lipgloss.NewStyle().Foreground(lipgloss.Color("3")),
		"waiting_for_metadata": lipgloss.NewStyle().Foreground(lipgloss.Color("3")),
		"failing":              lipgloss.NewStyle().Foreground(lipgloss.Color("1")).Bold(true), "waiting_for_room": lipgloss.NewStyle().Foreground(lipgloss.Color("1")),
		"excluded": lipgloss.NewStyle().Faint(true), "released": lipgloss.NewStyle().Faint(true),
	}
)

func styled(state string, width int) string {
	s := pad(state, width)
	if st, ok := stateStyles[state]; ok {
		return st.Render(s)
	}
	return s
}

// pad cuts or pads s to width cells.
func pad(s string, width int) string {
	r := []rune(s)
	if len(r) > width {
		if width <= 1 {
			return string(r[:width])
		}
		return string(r[:width-1]) + "…"
	}
	return s + strings.Repeat(" ", width-len(r))
}

func padLeft(s string, width int) string {
	if len(s) >= width {
		return s
	}
	return strings.Repeat(" ", width-len(s)) + s
}

// View implements tea.Model.
func (m *topModel) View() string {
	var b strings.Builder
	if m.st == nil {
		if m.err != nil {
			return "drover top: " + m.err.Error() + "\n(retrying; q quits)\n"
		}
		return "drover top: asking drover at " + m.c.base + " …\n"
	}
	st := m.st
	view := "components"
	if m.targets {
		view = "targets"
	}
	b.WriteString(titleStyle.Render("drover top") + fmt.Sprintf("  %s  %s  %s  health %s  view %s  sort %s",
		st.Host, st.Version, m.c.base, styled(st.Health.Status, len(st.Health.Status)), view, m.sortName()))
	b.WriteString("\n")
	switch {
	case m.err != nil:
		b.WriteString(stateStyles["failing"].Render("cannot refresh: "+m.err.Error()) + "\n")
	case m.editing:
		b.WriteString("filter: " + m.filter + "█\n")
	case m.filter != "":
		b.WriteString("filter: " + m.filter + "  (esc clears)\n")
	default:
		b.WriteString("tab: components/targets  s: sort  /: filter  ?: keys  q: quit\n")
	}
	if m.help {
		b.WriteString(topHelp)
		return b.String()
	}
	var header string
	var rows []string
	if m.targets {
		header, rows = m.targetRows(st)
	} else {
		header, rows = m.componentRows(st)
	}
	b.WriteString(headerStyle.Render(pad(header, max(m.width, len(header)))) + "\n")
	page := m.pageRows()
	m.offset = min(m.offset, max(len(rows)-page, 0))
	end := min(m.offset+page, len(rows))
	for _, r := range rows[m.offset:end] {
		b.WriteString(r + "\n")
	}
	if len(rows) == 0 {
		b.WriteString("(nothing matches)\n")
	}
	fmt.Fprintf(&b, "%d-%d of %d", min(m.offset+1, len(rows)), end, len(rows))
	return b.String()
}

const topHelp = `
  tab        switch between components and targets (c, t: go to one)
  s          next sort order
  /          filter rows by text (id, type, state, job, task, path, rule);
             enter keeps it, esc clears it
  up, down   scroll one row (k, j); page up, page down (space) a page
  home       back to the top (g)
  ?          show or hide this help (h)
  q          quit (ctrl+c)
`

func (m *topModel) sortName() string {
	if m.targets {
		return targetSorts[m.sortBy%len(targetSorts)]
	}
	return componentSorts[m.sortBy%len(componentSorts)]
}

func (m *topModel) matches(fields ...string) bool {
	if m.filter == "" {
		return true
	}
	f := strings.ToLower(m.filter)
	for _, s := range fields {
		if strings.Contains(strings.ToLower(s), f) {
			return true
		}
	}
	return false
}

func (m *topModel) componentRows(st *status.Status) (string, []string) {
	cs := slices.Clone(st.Components)
	cs = slices.DeleteFunc(cs, func(c status.Component) bool { return !m.matches(c.Kind, c.ID, c.Type, c.State.String()) })
	switch m.sortBy {
	case 1:
		slices.SortStableFunc(cs, func(a, b status.Component) int { return cmp.Compare(b.RateIn, a.RateIn) })
	case 2:
		slices.SortStableFunc(cs, func(a, b status.Component) int { return cmp.Compare(b.RateOut, a.RateOut) })
	case 3:
		slices.SortStableFunc(cs, func(a, b status.Component) int { return cmp.Compare(b.Errors, a.Errors) })
	case 4:
		slices.SortStableFunc(cs, func(a, b status.Component) int { return cmp.Compare(b.BytesBehind, a.BytesBehind) })
	}
	header := fmt.Sprintf("%-9s %-20s %-14s %-9s %10s %10s %8s %9s %10s %8s %s",
		"KIND", "ID", "TYPE", "STATE", "IN/S", "OUT/S", "ERRORS", "DISCARDED", "BEHIND", "QUEUE", "CONDITION")
	rows := make([]string, 0, len(cs))
	for _, c := range cs {
		queue := ""
		if c.Sink != nil {
			queue = shortNum(c.Sink.Queue)
		}
		cond := ""
		if len(c.Conditions) > 0 {
			k := c.Conditions[0]
			cond = k.Name + ": " + k.Reason
		}
		behind := ""
		if c.Kind == "source" {
			behind = byteSize(c.BytesBehind)
		}
		rows = append(rows, fmt.Sprintf("%-9s %s %s %s %10s %10s %8s %9s %10s %8s %s",
			c.Kind, pad(c.ID, 20), pad(c.Type, 14), styled(c.State.String(), 9), rate(c.RateIn), rate(c.RateOut),
			shortNum(c.Errors), shortNum(c.Discarded), behind, queue, cond))
	}
	return header, rows
}

func (m *topModel) targetRows(st *status.Status) (string, []string) {
	ts := slices.Clone(st.Targets)
	ts = slices.DeleteFunc(ts, func(t status.Target) bool {
		fields := []string{t.Component, t.Key, t.Path, t.State, t.Reason}
		for _, v := range t.Labels {
			fields = append(fields, v)
		}
		return !m.matches(fields...)
	})
	switch m.sortBy {
	case 0:
		slices.SortStableFunc(ts, func(a, b status.Target) int { return cmp.Compare(b.BytesBehind, a.BytesBehind) })
	case 1:
		slices.SortStableFunc(ts, func(a, b status.Target) int { return cmp.Compare(a.State, b.State) })
	case 2:
		slices.SortStableFunc(ts, func(a, b status.Target) int { return cmp.Compare(targetLabel(a), targetLabel(b)) })
	case 3:
		slices.SortStableFunc(ts, func(a, b status.Target) int { return a.LastRead.Compare(b.LastRead) })
	}
	// The target's name takes what the other columns and 35 cells of
	// reason leave.
	nameW := max(m.width-77-35, 20)
	header := fmt.Sprintf("%-14s %-*s %-20s %10s %17s %10s %s", "SOURCE", nameW, "TARGET", "STATE", "BEHIND", "ACKED/READ", "LAST READ", "REASON")
	rows := make([]string, 0, len(ts))
	for _, t := range ts {
		pos, behind, last := "", "", ""
		if t.State != status.StateExcluded {
			pos = fmt.Sprintf("%d/%d", t.Acknowledged, t.ReadOffset)
			behind = byteSize(float64(t.BytesBehind))
			last = agoText(st.Time, t.LastRead)
		}
		rows = append(rows, fmt.Sprintf("%s %s %s %10s %17s %10s %s", pad(t.Component, 14), pad(targetLabel(t), nameW),
			styled(t.State, 20), behind, pos, last, t.Reason))
	}
	return header, rows
}

// targetLabel names a target in one line.
func targetLabel(t status.Target) string {
	l := t.Labels
	switch t.Kind {
	case status.TargetNomadStream:
		id := l["alloc_id"]
		if len(id) > 8 {
			id = id[:8]
		}
		return fmt.Sprintf("%s/%s %s %s", l["job"], l["task"], l["stream"], id)
	case status.TargetPod:
		return fmt.Sprintf("%s/%s %s", l["namespace"], l["pod"], l["container"])
	}
	if t.Path != "" {
		return t.Path
	}
	return t.Key
}

func rate(v float64) string {
	if v == 0 {
		return "0"
	}
	if v < 10 {
		return fmt.Sprintf("%.1f", v)
	}
	return shortNum(v)
}

func shortNum(v float64) string {
	switch {
	case v >= 1e9:
		return fmt.Sprintf("%.1fG", v/1e9)
	case v >= 1e6:
		return fmt.Sprintf("%.1fM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}
