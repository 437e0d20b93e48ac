package auth

import (
	"net/mail"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/text/unicode/norm"
)

// NormalizeEmail returns the one form an email address is stored, compared
// and looked up in, so that every way of typing an address names one
// account: trimmed, Unicode-normalised (NFC), lower-cased (Unicode), its
// domain in ASCII (IDNA, the UTS 46 lookup profile: bücher.example becomes
// xn--bcher-kva.example). It is applied at every entry point (sign-up,
// login, the CLI, import) and by the migration that normalised the
// addresses stored before. A local part mixing scripts (a Latin "a" beside
// a Cyrillic "а", which look alike) is refused, as is any non-ASCII
// character that is not a letter, mark or digit (spaces, invisible
// formatting, symbols). Errors: BAD_USER_INPUT.
func NormalizeEmail(raw string) (string, error) {
	if !storable(raw) {
		return "", errBadEmail
	}
	// Lower-casing can take a string out of NFC (rarely), so it is composed
	// again after.
	email := norm.NFC.String(strings.ToLower(norm.NFC.String(strings.TrimSpace(raw))))
	at := strings.LastIndexByte(email, '@')
	if at <= 0 || at == len(email)-1 {
		return "", errBadEmail
	}
	local, domain := email[:at], email[at+1:]
	domain, err := idna.Lookup.ToASCII(domain)
	if err != nil {
		return "", badInput("the email's domain is not a valid domain name")
	}
	if err := checkLocalPart(local); err != nil {
		return "", err
	}
	email = local + "@" + domain
	if len(email) > maxEmailLength {
		return "", errBadEmail
	}
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Address != email {
		return "", errBadEmail
	}
	return email, nil
}

var errBadEmail = badInput("email must be a valid address of at most 254 bytes")

// checkLocalPart refuses what an ASCII-only parser would let through in
// the part before the @: any non-ASCII rune that is not a letter, mark or
// digit, and letters of scripts that do not belong together.
func checkLocalPart(local string) error {
	ascii := true
	for i := 0; i < len(local); i++ {
		if c := local[i]; c == ' ' || c == '\t' || c == '\r' || c == '\n' {
			return errBadEmail
		} else if c >= utf8.RuneSelf {
			ascii = false
		}
	}
	if ascii {
		return nil
	}
	scripts := map[string]bool{}
	for _, r := range local {
		if r < utf8.RuneSelf {
			if unicode.IsLetter(r) {
				scripts["Latin"] = true
			}
			continue
		}
		if !unicode.IsLetter(r) && !unicode.IsMark(r) && !unicode.IsNumber(r) {
			return badInput("the email's local part may hold, besides ASCII, only letters, marks and digits")
		}
		if name := scriptOf(r); name != "" {
			scripts[name] = true
		}
	}
	if !scriptsBelongTogether(scripts) {
		return badInput("the email's local part mixes scripts (letters that look alike across alphabets)")
	}
	return nil
}

// scriptOf is the Unicode script of r; "" for the scripts every writing
// system shares (Common, Inherited: digits, combining marks).
func scriptOf(r rune) string {
	if unicode.In(r, unicode.Common, unicode.Inherited) {
		return ""
	}
	for name, table := range unicode.Scripts {
		if unicode.Is(table, r) {
			return name
		}
	}
	return "Unknown"
}

// scriptsBelongTogether reports whether a set of scripts is one a single
// writing system uses: one script, or Latin with the scripts written
// together in Japanese, Chinese or Korean (the "highly restrictive" level
// of Unicode's UTS 39).
func scriptsBelongTogether(scripts map[string]bool) bool {
	if len(scripts) <= 1 {
		return true
	}
	for _, allowed := range [][]string{
		{"Latin", "Han", "Hiragana", "Katakana"},
		{"Latin", "Han", "Bopomofo"},
		{"Latin", "Han", "Hangul"},
	} {
		within := true
		for name := range scripts {
			if !slices.Contains(allowed, name) {
				within = false
				break
			}
		}
		if within {
			return true
		}
	}
	return false
}
