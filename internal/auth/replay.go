package auth

import (
	"crypto/sha256"
	"net/netip"
)

// Address prefixes that count as one client for the grace-replay rule.
//
// A legitimate replay repeats a refresh seconds after it was made: a lost
// answer retried, or two tabs of one browser refreshing at once. It comes
// from the same browser (the same user agent) on the same network, though
// not always from the same address: IPv6 privacy extensions change the low
// 64 bits while the /64 stays the network's, and IPv4 clients behind a
// carrier-grade NAT or a provider's egress pool may leave by another
// address of the pool, which is mostly within one /24. A thief replaying a
// stolen token must match both the user agent and the victim's network: one
// elsewhere on the Internet is refused at the first replay, and the replay
// count bounds even one on the victim's network.
const (
	replayPrefixIPv4 = 24
	replayPrefixIPv6 = 64
)

// ReplayClient identifies c for the grace-replay rule: a hash of its user
// agent and its address prefix (IPv4 /24, IPv6 /64), so that the session
// row holds neither. A missing or unparseable address counts as itself.
func ReplayClient(c Client) []byte {
	h := sha256.New()
	h.Write([]byte("authgate replay client v1\x00"))
	h.Write([]byte(networkOf(c.IP)))
	h.Write([]byte{0})
	h.Write([]byte(c.UserAgent))
	return h.Sum(nil)[:16]
}

// networkOf is ip's network for the rules that tell one client from another
// by where it is: its IPv4 /24 or IPv6 /64. A missing or unparseable address
// counts as itself.
func networkOf(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap()
	bits := replayPrefixIPv6
	if a.Is4() {
		bits = replayPrefixIPv4
	}
	p, _ := a.WithZone("").Prefix(bits)
	return p.String()
}
