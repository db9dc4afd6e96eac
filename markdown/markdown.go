package markdown

import (
	"bytes"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"flowstat/flows"
	"flowstat/reader"
	"flowstat/report"
	"flowstat/tables"
)

// Write writes md into dir atomically.
func Write(dir string, st *report.Stats) error {
	return tables.WriteFileAtomic(filepath.Join(dir, tables.MarkdownFile), Render(st))
}

// Render renders the  It depends only on st, so the same dataset
// and options always give the same bytes.
func Render(st *report.Stats) []byte {
	m := &md{st: st}
	m.title()
	m.summary()
	m.findings()
	m.destinations()
	m.timeline()
	m.method()
	return append(bytes.TrimRight(m.buf.Bytes(), "\n"), '\n')
}

type md struct {
	st  *report.Stats
	buf bytes.Buffer
}

func (m *md) p(format string, args ...any) {
	fmt.Fprintf(&m.buf, format, args...)
	m.buf.WriteByte('\n')
}

func (m *md) figure(file, alt string) bool {
	for _, f := range m.st.Figures {
		if f.File == file {
			m.p("![%s](%s)", alt, file)
			m.p("")
			return true
		}
	}
	return false
}

func (m *md) hasFigure(file string) bool {
	return slices.ContainsFunc(m.st.Figures, func(f report.Figure) bool { return f.File == file })
}

func (m *md) title() {
	var names []string
	for _, in := range m.st.Summary.Inputs {
		names = append(names, filepath.Base(in.Path))
	}
	switch {
	case len(names) == 0:
		m.p("# Traffic report")
	case len(names) <= 3:
		m.p("# Traffic report: %s", strings.Join(names, ", "))
	default:
		m.p("# Traffic report: %d traces", len(names))
	}
	m.p("")
}

func (m *md) summary() {
	st, s := m.st, &m.st.Summary
	m.p("## Summary")
	m.p("")
	for _, in := range s.Inputs {
		if in.Error != "" {
			m.p("- **Input** `%s`: skipped: %s", filepath.Base(in.Path), in.Error)
			continue
		}
		span := ""
		if in.FirstSeen != nil {
			span = ", " + report.FormatSpan(in.FirstSeen.UnixNano(), in.LastSeen.UnixNano())
		}
		m.p("- **Input** `%s`: %s, %s packets, %s on the wire%s", filepath.Base(in.Path), in.Format,
			report.FormatCount(in.Packets), report.FormatBytes(in.Bytes), span)
	}
	first, last := st.FirstSeen, st.LastSeen
	if s.FirstSeen != nil && s.LastSeen != nil {
		first, last = s.FirstSeen.UnixNano(), s.LastSeen.UnixNano()
	}
	secs := float64(last-first) / 1e9
	if st.Flows > 0 || s.FirstSeen != nil {
		m.p("- **Time span:** %s (%s)", report.FormatSpan(first, last), report.FormatDuration(secs))
	}
	m.p("- **Packets:** %s read, %s in flows, carrying %s of IP",
		report.FormatCount(s.Packets.Read), report.FormatCount(st.Packets), report.FormatBytes(st.Bytes))
	if secs > 0 {
		m.p("- **Average rate:** %s packets/s, %s", report.FormatRate(float64(st.Packets)/secs),
			report.FormatBitRate(float64(st.Bytes)*8/secs))
	}
	peak, ok := m.peak(first, last)
	iv := report.FormatDuration(float64(st.Interval) / 1e9)
	if p := s.Peak; p != nil {
		m.peakSecond(p)
	} else if ok {
		secs := float64(st.Interval) / 1e9
		m.p("- **Peak %s window:** %s packets/s, %s, in the window starting %s", iv, report.FormatRate(float64(peak.Packets)/secs),
			report.FormatBitRate(float64(peak.Bytes)*8/secs), report.FormatWindow(peak.Start, st.Interval))
	} else if st.Flows > 0 {
		m.p("- **Peak:** the capture spans no complete %s window; see the average", iv)
	}
	var protos []string
	for _, p := range sortedKeys(s.Flows.ByProto) {
		protos = append(protos, fmt.Sprintf("%s %s", p, report.FormatCount(s.Flows.ByProto[p])))
	}
	m.p("- **Flows:** %s (%s)", report.FormatCount(st.Flows), orNone(strings.Join(protos, ", ")))
	if n := s.Flows.ByEnd[flows.EndEvicted.String()]; n > 0 {
		m.p("- **Evicted:** %s flows were ended early, silent for longest when the flow table was full (--max-flows %d); a flow evicted and seen again continues in a new record, so counts of flows and sources are upper bounds",
			report.FormatCount(n), s.Options.MaxFlows)
	}
	m.damage()
	m.p("")
	if len(st.States) > 0 {
		m.p("Flows by protocol and state:")
		m.p("")
		t := newTable("Protocol", "State", "Meaning", "Flows", "Share")
		t.right(3, 4)
		for _, c := range st.States {
			t.add(tables.ProtoName(c.Proto), c.State.String(), stateMeaning(c.Proto, c.State),
				report.FormatCount(c.Flows), report.FormatPercent(float64(c.Flows)/float64(st.Flows)))
		}
		t.write(&m.buf)
		m.p("")
	}
}

// peakSecond says which second of packet time was the busiest, with its
// counts, so that a user counting that second's frames finds them, and
// its rates over the part of it the capture covers.
func (m *md) peakSecond(p *tables.Peak) {
	s := &m.st.Summary
	start := p.Start.UnixNano()
	counts := fmt.Sprintf("%s packets, %s on the wire", report.FormatCount(p.Packets), report.FormatBytes(p.Bytes))
	rates := func(what string) string {
		if p.CoveredS == 0 {
			return what
		}
		return fmt.Sprintf("%s packets/s, %s %s", report.FormatRate(p.PacketsPerS), report.FormatBitRate(p.BitsPerS), what)
	}
	if s.FirstSeen != nil && s.LastSeen != nil && s.LastSeen.Sub(*s.FirstSeen) < time.Second &&
		s.FirstSeen.Truncate(time.Second).Equal(s.LastSeen.Truncate(time.Second)) {
		m.p("- **Peak:** the capture lasts less than a second: %s", rates(fmt.Sprintf("over its %s (%s)", report.FormatDuration(p.CoveredS), counts)))
		return
	}
	covered := ""
	if p.CoveredS < 1 {
		covered = fmt.Sprintf("; the capture covers %s of it", report.FormatDuration(p.CoveredS))
	}
	m.p("- **Peak second:** %s", rates(fmt.Sprintf("in the second from %s UTC (%s%s)", report.FormatWindow(start, int64(time.Second)), counts, covered)))
}

// peak returns the busiest window that lies wholly inside the capture.
func (m *md) peak(first, last int64) (report.Rate, bool) {
	var best report.Rate
	found := false
	for _, r := range m.st.Rates {
		if r.Start < first || r.Start+m.st.Interval > last {
			continue
		}
		if !found || r.Packets > best.Packets {
			best, found = r, true
		}
	}
	return best, found
}

func (m *md) damage() {
	s := &m.st.Summary
	c := s.Packets
	var items []string
	add := func(n uint64, what string) {
		if n > 0 {
			items = append(items, report.FormatCount(n)+" "+what)
		}
	}
	add(c.FilteredOut, "filtered out (--bpf or --target)")
	add(c.NonIP, "not IP")
	add(c.Truncated, "truncated")
	add(c.DecodeErrors, "undecodable")
	add(c.UnknownLink, "of an unknown link type")
	add(c.OrphanFragments, "fragments whose first fragment never came")
	if len(items) == 0 && len(s.Damage) == 0 && len(s.Warnings) == 0 {
		m.p("- **Filtered or damaged:** nothing")
		return
	}
	m.p("- **Filtered or damaged:** %s", orNone(strings.Join(items, "; ")))
	for _, d := range s.Damage {
		m.p("  - damaged: `%s` at byte %d, %d bytes: %s", filepath.Base(d.Path), d.Offset, d.Length, d.Reason)
	}
	for _, w := range s.Warnings {
		m.p("  - warning: %s", w)
	}
}

func (m *md) findings() {
	st := m.st
	m.p("## Findings")
	m.p("")
	if len(st.Findings) == 0 {
		m.p("None: no destination, victim or source crossed the thresholds given under Method.")
		m.p("")
		return
	}
	m.attacks()
	for i := range st.Findings {
		f := &st.Findings[i]
		m.p("### %d. %s: %s", i+1, capitalize(f.Kind.String()), f.Where())
		m.p("")
		m.p("- **Where:** %s", m.where(f))
		m.p("- **When:** %s (%s), %s", report.FormatSpan(f.First, f.Last), report.FormatDuration(float64(f.Last-f.First)/1e9), m.windows(f.First, f.Last))
		m.p("- **Evidence:** %s", m.evidence(f))
		m.p("- **Peak:** %s", m.findingPeak(f))
		if line := topSourcesLine(f); line != "" {
			m.p("- %s", line)
		}
		switch vectorOf(f) {
		case report.SYNFlood, report.UDPFlood, report.ICMPFlood, report.TCPFlood:
			m.p("- **Spoofing hints:** %s", spoofingHints(f))
		}
		if note := kindNote(f); note != "" {
			m.p("- **Reading:** %s", note)
		}
		switch {
		case st.NoPlots:
			m.p("")
		case f.Figure != "":
			m.p("- **Plot:** below, `%s`", f.Figure)
			m.p("")
			m.figure(f.Figure, fmt.Sprintf("Finding %d over time", i+1))
		default:
			m.p("- **Plot:** none, the finding lies within one %s window; %s",
				report.FormatDuration(float64(st.Interval)/1e9), m.finerHint())
			m.p("")
		}
	}
}

// attacks lists the victims of several findings: each is one attack by
// several vectors, which the findings below describe one by one.
func (m *md) attacks() {
	var multi []report.Attack
	for _, a := range report.Attacks(m.st.Findings) {
		if len(a.Findings) > 1 {
			multi = append(multi, a)
		}
	}
	if len(multi) == 0 {
		return
	}
	m.p("Victims of several findings, each a multi-vector attack (findings.parquet's attack_id groups them):")
	m.p("")
	t := newTable("Victim", "Findings", "Vectors", "When", "Packets to it")
	t.right(4)
	for _, a := range multi {
		var ids, vectors []string
		var packets uint64
		for _, i := range a.Findings {
			f := &m.st.Findings[i]
			ids = append(ids, strconv.Itoa(i+1))
			vectors = append(vectors, vectorName(f))
			if f.Kind == report.SYNFlood {
				packets += f.SYNs
			} else {
				packets += f.PacketsIn
			}
		}
		t.add(a.VictimName(), strings.Join(ids, ", "), strings.Join(vectors, "; "),
			fmt.Sprintf("%s (%s)", report.FormatSpan(a.First, a.Last), report.FormatDuration(float64(a.Last-a.First)/1e9)),
			report.FormatCount(packets))
	}
	t.write(&m.buf)
	m.p("")
}

// vectorName names a finding's vector in a few words: "SYN flood to
// 80/tcp", "UDP reflection from 53/udp (DNS)", "TCP flood (ACK)".
func vectorName(f *report.Finding) string {
	switch f.Kind {
	case report.SYNFlood:
		return fmt.Sprintf("SYN flood to %d/tcp", f.Dest.Port)
	case report.Reflection, report.SYNACKReflection:
		proto := "udp"
		if f.Kind == report.SYNACKReflection {
			proto = "tcp"
		}
		if name := report.AmplifierName(f.Port); name != "" && f.Kind == report.Reflection {
			return fmt.Sprintf("%s from %d/%s (%s)", f.Kind, f.Port, proto, name)
		}
		return fmt.Sprintf("%s from %d/%s", f.Kind, f.Port, proto)
	case report.TCPFlood:
		return fmt.Sprintf("TCP flood (%s)", strings.ToUpper(f.Method))
	case report.CarpetBombing:
		v := *f
		v.Kind = f.Vector
		return vectorName(&v)
	}
	return f.Kind.String()
}

// vectorOf is the kind of a finding's traffic: a carpet bombing's vector,
// else its kind.
func vectorOf(f *report.Finding) report.Kind {
	if f.Kind == report.CarpetBombing {
		return f.Vector
	}
	return f.Kind
}

// findingPeak gives a finding's busiest second.
func (m *md) findingPeak(f *report.Finding) string {
	rate := fmt.Sprintf("%s packets/s, %s", report.FormatRate(f.PeakPPS), report.FormatBitRate(f.PeakBPS))
	switch {
	case f.Kind != report.SYNFlood:
		what := "what the sources sent"
		if f.Kind == report.PortScan || f.Kind == report.HostScan {
			what = "the probes"
		}
		return rate + fmt.Sprintf(" in its busiest second (%s, estimated from the flows' times and counts)", what)
	case m.st.Interval > int64(time.Second):
		return rate + fmt.Sprintf(" in its busiest %s window (all traffic of the destination)", report.FormatDuration(float64(m.st.Interval)/1e9))
	}
	return rate + " in its busiest second (all traffic of the destination)"
}

// windows names the report windows from first to last.
func (m *md) windows(first, last int64) string {
	iv := m.st.Interval
	a, b := report.FloorDiv(first, iv)*iv, report.FloorDiv(last, iv)*iv
	length := report.FormatDuration(float64(iv) / 1e9)
	if a == b {
		return fmt.Sprintf("within the %s window starting %s", length, report.FormatWindow(a, iv))
	}
	end := report.FormatWindow(b, iv)
	if day := report.FormatWindow(a, iv)[:11]; strings.HasPrefix(end, day) {
		end = end[len(day):]
	}
	return fmt.Sprintf("in the %d windows of %s starting %s to %s", (b-a)/iv+1, length, report.FormatWindow(a, iv), end)
}

// finerHint says how to see a short event over time.
func (m *md) finerHint() string {
	if m.st.BaseInterval < m.st.Interval {
		return fmt.Sprintf("`flowstat report --interval %s` shows it over time", report.FormatFlagDuration(m.st.BaseInterval))
	}
	return "`flowstat analyze --interval 1s` shows it over time"
}

func (m *md) where(f *report.Finding) string {
	switch f.Kind {
	case report.SYNFlood:
		return fmt.Sprintf("%s, %s port %d", f.Dest.IP, strings.ToUpper(tables.ProtoName(f.Dest.Proto)), f.Dest.Port)
	case report.Reflection:
		return fmt.Sprintf("victim %s, receiving from UDP source port %d", f.Host, f.Port)
	case report.SYNACKReflection:
		return fmt.Sprintf("victim %s, receiving from TCP source port %d", f.Host, f.Port)
	case report.UDPFlood, report.TCPFlood:
		proto := strings.ToUpper(tables.ProtoName(f.Proto))
		if f.Ports == 1 {
			return fmt.Sprintf("victim %s, %s port %d", f.Host, proto, f.Port)
		}
		return fmt.Sprintf("victim %s, %s %s ports", f.Host, report.FormatCount(f.Ports), proto)
	case report.ICMPFlood, report.FragmentFlood:
		return fmt.Sprintf("victim %s", f.Host)
	case report.CarpetBombing:
		return fmt.Sprintf("%s hosts of %s, each below the thresholds of one host: %s", report.FormatCount(f.Hosts), f.Prefix, vectorName(f))
	case report.PortScan:
		var hosts []string
		for _, t := range f.Targets {
			hosts = append(hosts, t.Host.String())
		}
		return fmt.Sprintf("source %s; %s %s", f.Host, plural(len(hosts), "host", "hosts"), listSome(hosts, 8))
	}
	if f.Method == "echo" {
		return fmt.Sprintf("source %s, pinging %s hosts", f.Host, report.FormatCount(f.Peers))
	}
	var ports []string
	for _, t := range f.Targets {
		ports = append(ports, strconv.Itoa(int(t.Port)))
	}
	return fmt.Sprintf("source %s; %s %s %s", f.Host, strings.ToUpper(tables.ProtoName(f.Proto)), plural(len(ports), "port", "ports"), listSome(ports, 12))
}

func (m *md) evidence(f *report.Finding) string {
	if f.Kind == report.CarpetBombing {
		v := *f
		v.Kind, v.Host = f.Vector, f.Prefix.Addr()
		return strings.ReplaceAll(m.evidence(&v), " to "+v.Host.String(), fmt.Sprintf(" to %s hosts of %s", report.FormatCount(f.Hosts), f.Prefix))
	}
	switch f.Kind {
	case report.SYNFlood:
		return fmt.Sprintf("%s flows never completed the handshake (%s SYN-only, %s half-open), %s of the %s TCP flows to it, from %s sources; %s SYNs to it, %s SYN-ACKs back",
			report.FormatCount(f.Flows), report.FormatCount(f.SYNOnly), report.FormatCount(f.HalfOpen), report.FormatPercent(float64(f.Flows)/float64(f.Total)),
			report.FormatCount(f.Total), report.FormatCount(f.Peers), report.FormatCount(f.SYNs), report.FormatCount(f.SYNACKs))
	case report.Reflection:
		reply := "no request seen at all"
		if f.BytesOut > 0 {
			reply = fmt.Sprintf("replies %s the size of the requests", report.FormatRatio(float64(f.BytesIn)/float64(f.BytesOut)))
		}
		return fmt.Sprintf("%s flows from port %d of %s sources: %s packets and %s to %s, %s packets and %s from it (%s flows without a request); %s",
			report.FormatCount(f.Flows), f.Port, report.FormatCount(f.Peers), report.FormatCount(f.PacketsIn), report.FormatBytes(f.BytesIn), f.Host,
			report.FormatCount(f.PacketsOut), report.FormatBytes(f.BytesOut), report.FormatCount(f.Failed), reply)
	case report.SYNACKReflection:
		return fmt.Sprintf("%s SYN-ACKs from port %d of %s sources to %s, which sent them no SYN; %s flows, %s packets and %s to %s, %s packets back",
			report.FormatCount(f.SYNACKs), f.Port, report.FormatCount(f.Peers), f.Host, report.FormatCount(f.Flows), report.FormatCount(f.PacketsIn),
			report.FormatBytes(f.BytesIn), f.Host, report.FormatCount(f.PacketsOut))
	case report.FragmentFlood:
		return fmt.Sprintf("%s IP fragments and %s of %s datagrams to %s from %s sources whose first fragments never came: without ports, they are in no flow",
			report.FormatCount(f.PacketsIn), report.FormatBytes(f.BytesIn), strings.ToUpper(tables.ProtoName(f.Proto)), f.Host, report.FormatCount(f.Peers))
	case report.UDPFlood, report.ICMPFlood, report.TCPFlood:
		what := strings.ToUpper(tables.ProtoName(f.Proto))
		if f.Kind == report.TCPFlood {
			what = fmt.Sprintf("TCP (mostly %s, no handshake)", strings.ToUpper(f.Method))
		}
		answer := "left unanswered"
		if f.Kind == report.TCPFlood {
			answer = "left unanswered or reset"
		}
		return fmt.Sprintf("%s packets and %s of %s to %s from %s sources in %s flows; %s packets and %s back; %s flows %s",
			report.FormatCount(f.PacketsIn), report.FormatBytes(f.BytesIn), what, f.Host, report.FormatCount(f.Peers), report.FormatCount(f.Flows),
			report.FormatCount(f.PacketsOut), report.FormatBytes(f.BytesOut), report.FormatCount(f.Failed), answer)
	}
	var targets []string
	for _, t := range f.Targets {
		switch {
		case f.Kind == report.PortScan:
			targets = append(targets, fmt.Sprintf("%s ports of %s", report.FormatCount(t.Count), t.Host))
		case f.Method == "echo":
			targets = append(targets, fmt.Sprintf("%s hosts", report.FormatCount(t.Count)))
		default:
			targets = append(targets, fmt.Sprintf("%s hosts on port %d", report.FormatCount(t.Count), t.Port))
		}
	}
	var states []string
	for _, s := range f.States {
		states = append(states, fmt.Sprintf("%s %s", s.State, report.FormatCount(s.Flows)))
	}
	return fmt.Sprintf("%s probes of %s; %s flows, %s of them failed (%s)", f.MethodName(), listSome(targets, 6),
		report.FormatCount(f.Flows), report.FormatPercent(float64(f.Failed)/float64(f.Flows)), strings.Join(states, ", "))
}

// topSourcesLine names a flood's or a reflection's most active sources;
// finding_sources.parquet has up to 1,000 of them.
func topSourcesLine(f *report.Finding) string {
	var what string
	switch f.Kind {
	case report.SYNFlood:
		what = "sources"
	case report.Reflection, report.SYNACKReflection:
		what = "reflectors"
	case report.UDPFlood, report.ICMPFlood, report.TCPFlood, report.FragmentFlood:
		what = "sources"
	case report.CarpetBombing:
		what = "sources"
		if f.Vector == report.Reflection || f.Vector == report.SYNACKReflection {
			what = "reflectors"
		}
	default:
		return ""
	}
	var items []string
	for _, src := range f.Sources[:min(5, len(f.Sources))] {
		if !f.Kind.IsVolume() {
			items = append(items, fmt.Sprintf("%s (%s %s)", src.IP, report.FormatCount(src.Flows), plural(int(src.Flows), "flow", "flows")))
		} else {
			items = append(items, fmt.Sprintf("%s (%s %s, %s)", src.IP, report.FormatCount(src.Packets), plural(int(src.Packets), "packet", "packets"), report.FormatBytes(src.Bytes)))
		}
	}
	return fmt.Sprintf("**Top %s:** %s; finding_sources.parquet lists %s", what, strings.Join(items, ", "),
		moreSources(len(f.Sources), f.Peers))
}

// spoofingHints says what in a SYN flood's sources points to forged
// addresses.
func spoofingHints(f *report.Finding) string {
	h := f.Spoofing
	var hints []string
	if h.MaxTTL > 0 { // 0: the records carry no TTL
		packets := "the packets'"
		if f.Kind == report.SYNFlood {
			packets = "the SYNs'"
		}
		ttl := fmt.Sprintf("%s TTLs range from %d to %d", packets, h.MinTTL, h.MaxTTL)
		if h.MaxTTL-h.MinTTL <= 16 && f.Peers >= 10 {
			ttl += " over " + report.FormatCount(f.Peers) + " sources, a band narrow enough for one origin"
		}
		hints = append(hints, ttl)
	}
	hints = append(hints, fmt.Sprintf("%s of %s sources sent a single flow", report.FormatCount(h.SingleFlowSources), report.FormatCount(f.Peers)),
		fmt.Sprintf("%s are in private, reserved or multicast ranges, which no Internet packet carries", report.FormatCount(h.BogonSources)))
	return strings.Join(hints, "; ")
}

// moreSources says how many of a finding's sources finding_sources.parquet
// lists.
func moreSources(listed int, all uint64) string {
	if uint64(listed) == all {
		return fmt.Sprintf("all %s", report.FormatCount(all))
	}
	return fmt.Sprintf("the %s most active of %s", report.FormatCount(uint64(listed)), report.FormatCount(all))
}

// kindNote explains what a kind of finding can mean.
func kindNote(f *report.Finding) string {
	switch f.Kind {
	case report.SYNFlood:
		return "many sources opening connections and never finishing them fill the target's backlog; sources that appear once are likely spoofed"
	case report.Reflection:
		return fmt.Sprintf("servers answering requests that carried %s's address: the attacker spoofed it to have them flood it", f.Host)
	case report.SYNACKReflection:
		return fmt.Sprintf("servers answering SYNs that carried %s's address: either a TCP reflection attack on %s, or backscatter of a SYN flood on those servers that spoofed %s's address; either way %s's address is being spoofed", f.Host, f.Host, f.Host, f.Host)
	case report.PortScan:
		return "one source trying many ports of the same hosts, most attempts failing: reconnaissance"
	case report.FragmentFlood:
		return fmt.Sprintf("fragments that cannot be reassembled hold %s's reassembly buffers until they time out, and pass filters that look for ports; a flood of them exhausts its memory or a firewall's", f.Host)
	case report.CarpetBombing:
		return fmt.Sprintf("the attack is spread over %s hosts of %s so that none stands out alone: defences that watch one address miss it; mitigate for the prefix", report.FormatCount(f.Hosts), f.Prefix)
	case report.UDPFlood, report.ICMPFlood, report.TCPFlood:
		note := fmt.Sprintf("packets sent at %s faster than it answers them, to exhaust its link, its CPU or a stateful device in front of it; sources that appear once are likely spoofed", f.Host)
		if strings.HasPrefix(f.Method, "rst") {
			note += fmt.Sprintf("; RSTs from many sources are also what servers send back when packets carrying %s's spoofed address reach them (backscatter, or part of a TCP reflection)", f.Host)
		}
		return note
	}
	if f.Method == "echo" {
		return "one source pinging many hosts to find those alive: reconnaissance, or monitoring when the source is known"
	}
	return "one source trying the same ports on many hosts, most attempts failing: reconnaissance or a worm"
}

func (m *md) destinations() {
	st := m.st
	m.p("## Top destinations")
	m.p("")
	m.p("A destination is the responder's address, port and protocol of a flow. Flows by how they ended (complete, reset, rejected) or what they were left at (SYN-only, half-open); destinations.parquet has every destination with the other outcomes (FIN without SYN, idle, other), the flows still open at the end and duration quantiles.")
	m.p("")
	if len(st.TopByFlows) == 0 {
		m.p("No flows.")
		m.p("")
		return
	}
	m.p("### By flows")
	m.p("")
	m.destTable(st.TopByFlows)
	m.p("")
	// The second ranking is worth a table only when it names others.
	if len(st.TopByHalfOpen) > 0 && !slices.Equal(st.TopByHalfOpen, st.TopByFlows[:min(len(st.TopByFlows), len(st.TopByHalfOpen))]) {
		m.p("### By SYN-only and half-open flows")
		m.p("")
		m.destTable(st.TopByHalfOpen)
		m.p("")
	}
	m.figure(report.PlotsDir+"/top-destinations.png", "Top destinations by flows")
	m.figure(report.PlotsDir+"/states.png", "Flows by protocol and state")
	if m.figure(report.PlotsDir+"/durations.png", "Distribution of flow durations") {
		m.p("Flows of a single packet last 0 s and cannot sit on the log axis: each curve starts at the fraction of them.")
		m.p("")
	}
}

func (m *md) destTable(idx []int) {
	t := newTable("Destination", "Flows", "Sources", "Packets", "Bytes", "Complete", "Reset", "Rejected", "SYN-only", "Half-open")
	t.right(1, 2, 3, 4, 5, 6, 7, 8, 9)
	for _, i := range idx {
		d := &m.st.Destinations[i]
		t.add(d.Dest.String(), report.FormatCount(d.Flows), report.FormatCount(d.Sources), report.FormatCount(d.Packets), report.FormatBytes(d.Bytes),
			report.FormatCount(d.Ended[report.Complete]), report.FormatCount(d.Ended[report.Reset]), report.FormatCount(d.Ended[report.Rejected]),
			report.FormatCount(d.SYNOnly), report.FormatCount(d.HalfOpen))
	}
	t.write(&m.buf)
}

func (m *md) timeline() {
	st := m.st
	m.p("## Timeline")
	m.p("")
	iv := report.FormatDuration(float64(st.Interval) / 1e9)
	m.figure(report.PlotsDir+"/throughput.png", "Packets and bits per second")
	if len(st.Timelines) == 0 {
		m.p("No target.")
		m.p("")
		return
	}
	m.p("Per %s window (start time, UTC) for each target (a destination, a host or a prefix): the packets and bytes that reached it (*in*) and that it sent (*out*), SYNs and SYN-ACKs each way, whichever side of its flows the target was (a reflection's victim is the originator of the flows that flood it); timelines.parquet has every window with packets. The flows to it by window (started, active, sources, SYN-only and half-open at the window's end, ended by outcome) are in intervals.parquet. Targets are those given with `--target`, or else the destinations of SYN floods, the hosts of port scans, the victims of floods and reflections and the busiest destinations, three at most.", iv)
	m.p("")
	for i := range st.Timelines {
		tl := &st.Timelines[i]
		m.p("### %s", tl.Name)
		m.p("")
		switch {
		case tl.Exchange == nil:
			m.seriesTable(tl)
		case tl.IsDest:
			m.destTimelineTable(tl)
		default:
			m.exchangeTable(tl)
		}
		if tl.Traffic != "" {
			m.figure(tl.Traffic, "Packets to and from "+tl.Name)
		}
		if tl.Figure != "" {
			m.figure(tl.Figure, "SYN, SYN-ACK and half-open flows of "+tl.Name)
		}
	}
}

// exchangeTable lists a timeline's busiest windows both ways.
func (m *md) exchangeTable(tl *report.Timeline) {
	st := m.st
	rows := tl.BusiestExchanges()
	if len(tl.Exchange) > len(rows) {
		m.p("The %d busiest of %d windows with packets, in time order.", len(rows), len(tl.Exchange))
		m.p("")
	}
	if len(rows) == 0 {
		m.p("No packet.")
		m.p("")
		return
	}
	t := newTable("Window", "Packets in", "Packets out", "Bytes in", "Bytes out", "SYN in", "SYN-ACK out", "SYN out", "SYN-ACK in")
	t.right(1, 2, 3, 4, 5, 6, 7, 8)
	c := report.FormatCount
	for _, w := range rows {
		t.add(report.FormatWindow(w.Start, st.Interval), c(w.PacketsIn), c(w.PacketsOut), report.FormatBytes(w.BytesIn), report.FormatBytes(w.BytesOut),
			c(w.SYNsIn), c(w.SYNACKsOut), c(w.SYNsOut), c(w.SYNACKsIn))
	}
	t.write(&m.buf)
	m.p("")
}

// destTimelineTable lists a destination's busiest windows: its flows'
// handshakes and the packets to and from it.
func (m *md) destTimelineTable(tl *report.Timeline) {
	st := m.st
	rows := tl.Series.Busiest
	if tl.Series.Busy > len(rows) {
		m.p("The %d busiest of %d windows, in time order; timelines.parquet and intervals.parquet have them all.", len(rows), tl.Series.Busy)
		m.p("")
	}
	both := map[int64]report.Exchange{}
	for _, e := range tl.Exchange {
		both[e.Start] = e
	}
	t := newTable("Window", "Packets in", "Packets out", "Bytes in", "New", "Sources", "SYN", "SYN-ACK", "SYN-only", "Half-open")
	t.right(1, 2, 3, 4, 5, 6, 7, 8, 9)
	c := report.FormatCount
	for _, w := range rows {
		e := both[w.Start]
		t.add(report.FormatWindow(w.Start, st.Interval), c(e.PacketsIn), c(e.PacketsOut), report.FormatBytes(e.BytesIn), c(w.New),
			c(w.Sources), c(w.SYNs), c(w.SYNACKs), c(w.SYNOnly), c(w.HalfOpen))
	}
	t.write(&m.buf)
	m.p("")
}

// seriesTable lists a timeline's busiest windows as a destination, when
// its traffic both ways is not known (`flowstat report` of a target that
// analyze did not choose).
func (m *md) seriesTable(tl *report.Timeline) {
	st := m.st
	how := "`flowstat analyze` with the options of this report"
	if !tl.IsDest {
		how = fmt.Sprintf("`flowstat analyze --target %s`", tl.Name)
	}
	m.p("timelines.parquet has no rows for this target (analyze chose others): its windows as a destination, packets both ways; %s counts what reached it and what it sent, whichever side of its flows it was.", how)
	m.p("")
	rows := tl.Series.Busiest
	if tl.Series.Busy > len(rows) {
		m.p("The %d busiest of %d windows, in time order; intervals.parquet has them all, and a longer `--interval` fewer.", len(rows), tl.Series.Busy)
		m.p("")
	}
	t := newTable("Window", "Packets", "Bytes", "New", "Active", "Sources", "SYN", "SYN-ACK", "SYN-only", "Half-open")
	t.right(1, 2, 3, 4, 5, 6, 7, 8, 9)
	for _, w := range rows {
		t.add(report.FormatWindow(w.Start, st.Interval), report.FormatCount(w.Packets), report.FormatBytes(w.Bytes), report.FormatCount(w.New),
			report.FormatCount(w.Flows), report.FormatCount(w.Sources), report.FormatCount(w.SYNs), report.FormatCount(w.SYNACKs), report.FormatCount(w.SYNOnly),
			report.FormatCount(w.HalfOpen))
	}
	t.write(&m.buf)
	m.p("")
}

func (m *md) method() {
	st := m.st
	o := st.Summary.Options
	t := st.Thresholds
	iv := report.FormatDuration(float64(st.Interval) / 1e9)
	m.p("## Method")
	m.p("")
	active := "off"
	if o.ActiveTimeoutS > 0 {
		active = report.FormatDuration(o.ActiveTimeoutS) + ", which cuts longer flows into consecutive records"
	}
	m.p("- **Flows.** Packets make bidirectional flows keyed by protocol, VLAN and both endpoints. A TCP flow ends %s after FINs from both sides or a RST; any flow ends after %s without a packet (idle timeout); active timeout %s. Flows still open when the input ended are *open*.",
		report.FormatDuration(o.LingerS), report.FormatDuration(float64(st.IdleTimeout)/1e9), active)
	m.p("- **Originator.** The side that sent the first SYN; else the side that did not send the first SYN-ACK; else, for TCP, the side with the higher port; for UDP, the receiver of a first packet sent from a port below 1024 to one above; else the side that sent first. The destination is the other side.")
	m.p("- **States** are Zeek's conn_state, judged on what was seen (meanings in the table above). A *half-open* flow had a SYN and a SYN-ACK but no ACK from the originator; *SYN-only* is TCP state S0.")
	base := ""
	switch {
	case st.BaseInterval != st.Interval:
		base = fmt.Sprintf(", summed from the analysed %s windows", report.FormatDuration(float64(st.BaseInterval)/1e9))
	case o.IntervalAuto:
		base = ", chosen to cut the capture into at least 100 (`--interval auto`; `--interval` sets another)"
	}
	m.p("- **Windows** are %s long, aligned to multiples of %s since the Unix epoch, UTC%s. A flow ends at its last packet, or an idle timeout after it when it ended idle; one still open when the input ended is active up to the input's last packet, an idle timeout after its own at most. It is *active* in a window when it started before the window's end and had not ended before its start; SYN-only, half-open and *open* count the flows started and not ended at a window's end. An ended TCP flow is *complete* in state SF, *rejected* in REJ, *reset* in another RST state (RSTO, RSTR, RSTOS0, RSTRH) or when a RST ended it, and *FIN no SYN* with a FIN but no SYN; any other flow that ended is *idle* when the idle timeout ended it, else *other* (active timeout, full flow table).",
		iv, iv, base)
	m.p("- **Durations** run from a flow's first packet to its last. Quantiles interpolate linearly between order statistics (R's type 7); per window they cover the flows that ended in it, per destination all its flows.")
	m.p("- **Findings**, with the flag that sets each threshold (for `flowstat analyze` and `flowstat report`):")
	m.p("  - SYN flood: at least %d SYN-only or half-open flows to one destination port (`--synflood-flows`) from at least %d sources (`--synflood-sources`), at least %s of its TCP flows (`--synflood-share`).",
		t.SYNFloodFlows, t.SYNFloodSources, report.FormatPercent(t.SYNFloodShare))
	var ports []string
	for _, p := range t.ReflectPorts {
		ports = append(ports, strconv.Itoa(int(p)))
	}
	m.p("  - UDP reflection: traffic from one service port (`--reflect-ports`, now %s) of at least %d sources (`--reflect-sources`) to one victim, at least %d packets (`--reflect-packets`), carrying at least %s times the bytes the victim sent them (`--reflect-ratio`), or with no request at all; from any other port, only with no request at all and at a flood's rate (`--flood-rate`, below), which a one-way protocol such as syslog does not reach.",
		strings.Join(ports, ", "), t.ReflectSources, t.ReflectPackets, strconv.FormatFloat(t.ReflectRatio, 'f', -1, 64))
	m.p("  - UDP, ICMP and TCP floods: at least %d packets of one protocol to one host (`--flood-packets`), at least %s packets/s in its busiest second (`--flood-rate`); over UDP and TCP in at least %d flows (`--flood-flows`), over UDP with at most a tenth as many packets back, over TCP without handshakes (no SYN, no SYN-ACK) and answered by nothing but RSTs. UDP from the port of a reflection on the same victim is the reflection's. One source reaching %d ports or more is a scan, not a flood. A fragment flood: as many IP fragments whose first fragments never came (in no flow), at the same rate.",
		t.FloodPackets, strconv.FormatFloat(t.FloodRate, 'f', -1, 64), t.FloodFlows, t.ScanPorts)
	m.p("  - Carpet bombing: the flows of floods and reflections that are no finding on their own host, put together by /%d (IPv4, `--carpet-prefix4`) or /%d (IPv6, `--carpet-prefix6`) prefix, when they reach at least %d hosts (`--carpet-hosts`) and cross the thresholds above together.",
		t.CarpetBits4, t.CarpetBits6, t.CarpetHosts)
	m.p("  - SYN-ACK reflection: SYN-ACKs without any SYN from one port of at least %d sources to one host, at least %d SYN-ACKs (the same flags).",
		t.ReflectSources, t.ReflectPackets)
	m.p("  - Port scans and host sweeps, over TCP, UDP or ICMP echo: one source reaching at least %d ports of one host (`--scan-ports`) or %d hosts on one port (`--scan-hosts`; pings: %[2]d hosts), at least %[3]s of those flows failed (`--scan-share`; not for pings, which live hosts answer): over TCP REJ, S0, RSTO or RSTOS0, or, for probes without SYN, OTH, RSTRH, SH or SHR; over UDP no answer (S0). The method is named as nmap names its scans, from the flags the source sent: SYN, CONNECT (a handshake completed, then left), ACK, FIN, NULL, XMAS.",
		t.ScanPorts, t.ScanHosts, report.FormatPercent(t.ScanShare))
	version := "flowstat " + st.Summary.Version
	if st.Version != st.Summary.Version {
		version = fmt.Sprintf("flows by flowstat %s, report by flowstat %s", st.Summary.Version, st.Version)
	}
	m.p("- **Peaks** of findings are of their busiest second, aligned to the second, over the part of it the capture covers: for floods, reflections and scans estimated from their flows (a flow shorter than a second counts its packets in it, a longer one its mean rate in each second it spans; exact for the short flows of floods), for SYN floods counted from the destination's windows (over a window when windows are longer than a second). Several findings on one victim are one attack (findings.parquet's `attack_id`).")
	m.p("- **Numbers** here have three significant digits; intervals.parquet, destinations.parquet and cdf.parquet beside this report hold them exactly.")
	m.p("- **Version:** %s.", version)
}

// stateMeaning explains a state for people.
func stateMeaning(proto uint8, s flows.State) string {
	if proto != reader.ProtoTCP {
		switch s {
		case flows.S0:
			return "only the originator sent"
		case flows.SF:
			return "both sides sent"
		case flows.SHR:
			return "only the responder sent"
		}
		return "no packet attributed"
	}
	return [...]string{
		flows.OTH:    "no SYN seen: midstream traffic",
		flows.S0:     "SYN, no reply",
		flows.S1:     "handshake, not closed",
		flows.SF:     "handshake and normal close",
		flows.REJ:    "SYN answered by RST",
		flows.S2:     "handshake, FIN from the originator only",
		flows.S3:     "handshake, FIN from the responder only",
		flows.RSTO:   "handshake, originator reset",
		flows.RSTR:   "handshake, responder reset",
		flows.RSTOS0: "SYN, then RST from the originator",
		flows.RSTRH:  "SYN-ACK, then RST from the responder, no SYN",
		flows.SH:     "SYN, then FIN from the originator, no SYN-ACK",
		flows.SHR:    "SYN-ACK, then FIN from the responder, no SYN",
	}[s]
}

// table renders a Markdown table with aligned columns, readable as plain
// text and on GitHub.
type table struct {
	head  []string
	align []bool // right-aligned columns
	rows  [][]string
}

func newTable(head ...string) *table { return &table{head: head, align: make([]bool, len(head))} }

func (t *table) right(cols ...int) {
	for _, c := range cols {
		t.align[c] = true
	}
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) write(b *bytes.Buffer) {
	width := make([]int, len(t.head))
	for _, row := range append([][]string{t.head}, t.rows...) {
		for i, c := range row {
			width[i] = max(width[i], utf8.RuneCountInString(c), 3)
		}
	}
	line := func(cells []string) {
		b.WriteString("|")
		for i, c := range cells {
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(c))
			if t.align[i] {
				b.WriteString(" " + pad + c + " |")
			} else {
				b.WriteString(" " + c + pad + " |")
			}
		}
		b.WriteString("\n")
	}
	line(t.head)
	b.WriteString("|")
	for i, w := range width {
		if t.align[i] {
			b.WriteString(" " + strings.Repeat("-", w-1) + ": |")
		} else {
			b.WriteString(" " + strings.Repeat("-", w) + " |")
		}
	}
	b.WriteString("\n")
	for _, r := range t.rows {
		line(r)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// listSome lists at most n items and says how many more there are.
func listSome(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(items[:n], ", "), len(items)-n)
}
