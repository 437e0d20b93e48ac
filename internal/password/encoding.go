package password

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"authgate/internal/password/argon2id"
)

// maxArgon2idEncoded is longer than any argon2id string within the bounds;
// anything longer is refused before it is split or decoded.
const maxArgon2idEncoded = 64 + 2*((maxLength*4+2)/3)

func encodeArgon2id(p Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2id.Version, p.MemoryKiB, p.Iterations, p.Parallelism,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// decodeArgon2id parses $argon2id$v=19$m=<KiB>,t=<iterations>,p=<lanes>$<salt>$<key>
// strictly: one spelling per hash, no optional PHC fields, parameters within
// the bounds of Params.Validate. Failures wrap ErrMalformedHash.
func decodeArgon2id(encoded string) (p Params, salt, key []byte, err error) {
	if len(encoded) > maxArgon2idEncoded {
		return Params{}, nil, nil, malformed("argon2id hash is too long")
	}
	fields := strings.Split(encoded, "$")
	if len(fields) != 6 || fields[0] != "" || fields[1] != "argon2id" {
		return Params{}, nil, nil, malformed("argon2id hash does not have 5 $-separated fields")
	}
	if fields[2] != "v="+strconv.Itoa(argon2id.Version) {
		return Params{}, nil, nil, malformed("unsupported argon2 version")
	}
	costs := strings.Split(fields[3], ",")
	if len(costs) != 3 {
		return Params{}, nil, nil, malformed("argon2id parameters are not m=,t=,p=")
	}
	memory, okM := parseCost(costs[0], "m=", 32)
	iterations, okT := parseCost(costs[1], "t=", 32)
	parallelism, okP := parseCost(costs[2], "p=", 8)
	if !okM || !okT || !okP {
		return Params{}, nil, nil, malformed("argon2id parameters are not m=,t=,p= with decimal numbers")
	}
	salt, okS := decodeBase64(fields[4])
	key, okK := decodeBase64(fields[5])
	if !okS || !okK {
		return Params{}, nil, nil, malformed("argon2id salt or key is not unpadded standard base64")
	}
	p = Params{
		MemoryKiB:   uint32(memory),
		Iterations:  uint32(iterations),
		Parallelism: uint8(parallelism),
		SaltLength:  uint32(len(salt)),
		KeyLength:   uint32(len(key)),
	}
	if problem := p.problem(); problem != "" {
		return Params{}, nil, nil, malformed(problem)
	}
	return p, salt, key, nil
}

// parseCost parses "<name><decimal>" where the number fits in bits and has no
// sign or leading zero.
func parseCost(field, name string, bits int) (uint64, bool) {
	digits, found := strings.CutPrefix(field, name)
	if !found || digits == "" || (len(digits) > 1 && digits[0] == '0') {
		return 0, false
	}
	for _, c := range []byte(digits) {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(digits, 10, bits)
	return n, err == nil
}

// decodeBase64 decodes unpadded standard base64 with canonical trailing bits.
func decodeBase64(s string) ([]byte, bool) {
	// The decoder skips \r and \n even in strict mode; refusing them keeps a
	// single spelling per hash.
	if strings.ContainsAny(s, "\r\n") {
		return nil, false
	}
	b, err := base64.RawStdEncoding.Strict().DecodeString(s)
	return b, err == nil
}

// checkBcrypt accepts exactly $2a$, $2b$ or $2y$, a two-digit cost within
// bounds, '$' and 53 characters of bcrypt's base64 alphabet (22 of salt, 31
// of hash). Failures wrap ErrMalformedHash.
func checkBcrypt(encoded string) error {
	const length = 60
	if len(encoded) != length || encoded[6] != '$' {
		return malformed("bcrypt hash is not 60 characters of $2x$NN$<53 characters>")
	}
	switch encoded[:4] {
	case "$2a$", "$2b$", "$2y$":
	default:
		return malformed("unsupported bcrypt version")
	}
	costDigits := encoded[4:6]
	if costDigits[0] < '0' || costDigits[0] > '9' || costDigits[1] < '0' || costDigits[1] > '9' {
		return malformed("bcrypt cost is not two digits")
	}
	cost := int(costDigits[0]-'0')*10 + int(costDigits[1]-'0')
	if cost < minBcryptCost || cost > maxBcryptCost {
		return malformed(fmt.Sprintf("bcrypt cost %d is outside %d..%d", cost, minBcryptCost, maxBcryptCost))
	}
	for _, c := range []byte(encoded[7:]) {
		if !isBcryptBase64(c) {
			return malformed("bcrypt salt or hash has a character outside bcrypt's base64 alphabet")
		}
	}
	return nil
}

func isBcryptBase64(c byte) bool {
	return c == '.' || c == '/' || ('A' <= c && c <= 'Z') || ('a' <= c && c <= 'z') || ('0' <= c && c <= '9')
}

func malformed(reason string) error {
	return fmt.Errorf("%w: %s", ErrMalformedHash, reason)
}
