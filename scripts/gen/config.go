package gen

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Config controls one generated trace. The zero value of every field except
// Flows selects a default.
type Config struct {
	// Seed seeds the PCG random source: the same Config yields byte-identical
	// output.
	Seed uint64
	// Flows is the exact number of ground-truth flows in the trace.
	Flows int
	// Snaplen is the capture length written per packet and in the pcap
	// header (default 96). Length fields always carry the full packet size.
	// Every header including TCP options fits in 94 bytes; below 74 the
	// ports/flags of IPv6+VLAN packets may be cut.
	Snaplen int
	// Nano writes a nanosecond-resolution pcap; otherwise microseconds and
	// every timestamp (and the truth) is on a whole microsecond.
	Nano bool
	// Duration is the trace span: the first flow starts at Start and the last
	// packet is at exactly Start+Duration. Zero picks max(5m, Flows/1000 s).
	Duration time.Duration
	// Mix names a scenario mix ("default", "benign", "synflood", "bench") or
	// lists weights "name=w,..." optionally after a preset
	// ("default,synflood=20"). Weights are approximate shares of flows.
	Mix string
	// Start is the time of the trace's first flow (default 2024-01-01 UTC).
	Start time.Time
	// IdleTimeout and Linger are the flow model's timeouts the truth is
	// computed for (defaults 60 s and 2 s). Generated timing keeps at least
	// 1 s away from every boundary they define.
	IdleTimeout time.Duration
	Linger      time.Duration
	// NonTCPHistory also gives UDP and ICMP flows history letters (D/d for
	// packets with payload). By default history is built from TCP packets
	// only and is "" for other protocols.
	NonTCPHistory bool
	// MaxResponse caps the size of TCP responses in bytes (log-uniform from
	// 100 bytes). Zero picks the mix's default: 200000, or 12000 for "bench".
	MaxResponse int
	// SkipFlows leaves Truth.Flows and Truth.ByDestination empty (totals and
	// ByState are still filled): for benchmark-size traces.
	SkipFlows bool
}

// Defaults of the flow model and capture.
const (
	DefaultSnaplen     = 96
	DefaultIdleTimeout = 60 * time.Second
	DefaultLinger      = 2 * time.Second
)

// DefaultStart is the default time of the first flow.
var DefaultStart = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

func (c Config) withDefaults() (Config, error) {
	if c.Flows < 0 {
		return c, fmt.Errorf("gen: Flows must be >= 0, got %d", c.Flows)
	}
	if c.Snaplen == 0 {
		c.Snaplen = DefaultSnaplen
	}
	if c.Snaplen < 14 || c.Snaplen > 262144 {
		return c, fmt.Errorf("gen: Snaplen must be in [14, 262144], got %d", c.Snaplen)
	}
	if c.Duration == 0 {
		c.Duration = max(5*time.Minute, time.Duration(c.Flows)*time.Millisecond)
	}
	if c.Duration < 5*time.Second {
		return c, fmt.Errorf("gen: Duration must be >= 5s, got %v", c.Duration)
	}
	if c.Mix == "" {
		c.Mix = "default"
	}
	if c.MaxResponse == 0 {
		c.MaxResponse = 200000
		if c.Mix == "bench" {
			c.MaxResponse = 12000
		}
	}
	if c.MaxResponse < 200 {
		return c, fmt.Errorf("gen: MaxResponse must be >= 200, got %d", c.MaxResponse)
	}
	if c.Start.IsZero() {
		c.Start = DefaultStart
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.Linger == 0 {
		c.Linger = DefaultLinger
	}
	if c.IdleTimeout < 25*time.Second {
		return c, fmt.Errorf("gen: IdleTimeout must be >= 25s (intra-flow gaps reach 19 s), got %v", c.IdleTimeout)
	}
	if c.Linger < 2*time.Second || c.Linger > c.IdleTimeout/2 {
		return c, fmt.Errorf("gen: Linger must be in [2s, IdleTimeout/2], got %v", c.Linger)
	}
	return c, nil
}

// mixes are the preset scenario weights (approximate shares of flows).
var mixes = map[string]map[string]float64{
	"default": {
		"sf": 28, "rej": 5, "s0": 5, "half_open": 3, "rsto": 3, "rstr": 3, "s1": 4,
		"s2": 2, "s3": 2, "sh": 1, "rstos0": 1, "oth": 4, "backscatter": 3,
		"udp": 12, "udp_oneway": 4, "udp_reflect": 2, "icmp_echo": 4, "icmp_unreach": 1,
		"udp_frag": 2, "port_reuse": 3, "linger": 2, "idle_split": 2, "synflood": 5, "eof": 2,
	},
	"benign": {
		"sf": 45, "rej": 2, "rsto": 3, "rstr": 3, "s1": 6, "s2": 2, "s3": 2, "oth": 3,
		"udp": 18, "udp_oneway": 3, "icmp_echo": 4, "udp_frag": 2, "port_reuse": 3,
		"linger": 2, "idle_split": 2, "eof": 2,
	},
	"synflood": {
		"synflood": 85, "sf": 6, "udp": 3, "rej": 1, "s0": 1, "backscatter": 1,
		"icmp_echo": 1, "port_reuse": 1, "linger": 0.5, "idle_split": 0.5, "eof": 0.5,
	},
	// floods: a UDP, an ICMP and a TCP flood on the trace's victim (one
	// multi-vector attack) and an NTP reflection carpet-bombing a /24, among
	// ordinary traffic, with one-way UDP streams and syslog that must not
	// look like one.
	"floods": {
		"udpflood": 20, "icmpflood": 20, "ackflood": 20, "carpet": 10, "sf": 20, "udp": 10, "udp_oneway": 5,
		"icmp_echo": 2, "oth": 3,
	},
	// attacks: a DNS amplification and a SYN-ACK reflection on the trace's
	// victim (one attack), a TCP SYN port scan and an ICMP echo sweep, among
	// ordinary traffic.
	"attacks": {
		"amplification": 15, "synack_reflect": 15, "portscan": 10, "hostsweep": 10, "sf": 25, "udp": 10,
		"icmp_echo": 5, "rej": 5, "s0": 5,
	},
	// bench: every scenario, tuned to about 6 packets per flow (smaller responses, see
	// Config.MaxResponse) so that
	// 2 million flows give more than 10 million packets.
	"bench": {
		"sf": 14, "rej": 8, "s0": 6, "half_open": 2, "rsto": 2, "rstr": 2, "s1": 2,
		"s2": 1, "s3": 1, "sh": 1, "rstos0": 1, "oth": 3, "backscatter": 3,
		"udp": 21, "udp_oneway": 1, "udp_reflect": 2, "icmp_echo": 4, "icmp_unreach": 1,
		"udp_frag": 1, "port_reuse": 2, "linger": 1, "idle_split": 1, "synflood": 16, "eof": 0.3,
	},
}

// Mixes returns the names of the preset mixes.
func Mixes() []string {
	names := make([]string, 0, len(mixes))
	for n := range mixes {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// MixWeights returns the scenario weights a mix string selects.
func MixWeights(mix string) (map[string]float64, error) {
	w := map[string]float64{}
	for i, tok := range strings.Split(mix, ",") {
		tok = strings.TrimSpace(tok)
		if tok == "" {
			continue
		}
		name, val, hasVal := strings.Cut(tok, "=")
		if !hasVal {
			preset, ok := mixes[name]
			if !ok || i != 0 {
				return nil, fmt.Errorf("gen: unknown mix %q (presets: %s; or name=weight,...)", name, strings.Join(Mixes(), ", "))
			}
			for k, v := range preset {
				w[k] = v
			}
			continue
		}
		if _, ok := scenarioByName[name]; !ok {
			return nil, fmt.Errorf("gen: unknown scenario %q in mix (scenarios: %s)", name, strings.Join(ScenarioNames(), ", "))
		}
		f, err := strconv.ParseFloat(val, 64)
		if err != nil || f < 0 {
			return nil, fmt.Errorf("gen: bad weight in %q", tok)
		}
		w[name] = f
	}
	total := 0.0
	for _, v := range w {
		total += v
	}
	if total <= 0 {
		return nil, fmt.Errorf("gen: mix %q has no positive weight", mix)
	}
	return w, nil
}
