// Package mfa holds the cryptography of second factors and passkeys, done by
// libraries: TOTP (RFC 6238, github.com/pquerna/otp) with its QR code,
// recovery codes, the sealing of TOTP secrets at rest, and WebAuthn
// ceremonies (github.com/go-webauthn/webauthn). It stores nothing and knows
// no user beyond what it is handed: internal/auth decides, the store keeps.
package mfa

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"image/png"
	"io"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"
)

// The TOTP parameters: RFC 6238's defaults, which every authenticator app
// reads (30-second steps, 6 digits, HMAC-SHA-1), and one step of skew
// either way for clocks apart and codes typed slowly.
const (
	TOTPPeriod = 30
	TOTPDigits = 6
	TOTPSkew   = 1
	// totpSecretBytes is the secret's size: 160 bits, RFC 4226's
	// recommendation for HMAC-SHA-1.
	totpSecretBytes = 20
	// qrSize is the QR code image's side, in pixels.
	qrSize = 256
)

// TOTPEnrollment is a new TOTP secret as the user's app takes it.
type TOTPEnrollment struct {
	// Secret is the base32 secret, to type in by hand.
	Secret string
	// URL is the otpauth:// URL the QR code holds.
	URL string
	// QRCodePNG is the QR code of URL, as PNG.
	QRCodePNG []byte
}

// QRCodeBase64 is the QR code as base64 PNG data (what clients put after
// "data:image/png;base64,").
func (e TOTPEnrollment) QRCodeBase64() string {
	return base64.StdEncoding.EncodeToString(e.QRCodePNG)
}

// NewTOTP makes a fresh TOTP secret from random for account (the user's
// email) at issuer (the app's name), with its otpauth URL and QR code. It
// fails only when random or the image encoding does.
func NewTOTP(random io.Reader, issuer, account string) (TOTPEnrollment, error) {
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer:      issuer,
		AccountName: account,
		Period:      TOTPPeriod,
		SecretSize:  totpSecretBytes,
		Digits:      otp.DigitsSix,
		Algorithm:   otp.AlgorithmSHA1,
		Rand:        random,
	})
	if err != nil {
		return TOTPEnrollment{}, fmt.Errorf("mfa: making a TOTP secret: %w", err)
	}
	img, err := key.Image(qrSize, qrSize)
	if err != nil {
		return TOTPEnrollment{}, fmt.Errorf("mfa: drawing the QR code: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return TOTPEnrollment{}, fmt.Errorf("mfa: encoding the QR code: %w", err)
	}
	return TOTPEnrollment{Secret: key.Secret(), URL: key.URL(), QRCodePNG: buf.Bytes()}, nil
}

// TOTPStep is the RFC 6238 time step t falls in.
func TOTPStep(t time.Time) int64 {
	return t.Unix() / TOTPPeriod
}

// TOTPCode is the code of secret for time step step (tests compute codes
// with it; the server never needs one).
func TOTPCode(secret string, step int64) (string, error) {
	return hotp.GenerateCodeCustom(secret, uint64(step), totpOpts)
}

var totpOpts = hotp.ValidateOpts{Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// ErrMalformedCode is MatchTOTP's answer for input that cannot be a code.
var ErrMalformedCode = errors.New("mfa: a TOTP code is 6 digits")

// MatchTOTP finds the time step, within TOTPSkew of now's, whose code of
// secret is code (spaces ignored), comparing in constant time. ok is false
// when none is; the caller accepts a step only once (see the store's
// last_used_step). err is ErrMalformedCode for input that is no code, or
// the library's error for a secret it cannot read.
func MatchTOTP(secret, code string, now time.Time) (step int64, ok bool, err error) {
	code = NormalizeTOTPCode(code)
	if len(code) != TOTPDigits {
		return 0, false, ErrMalformedCode
	}
	current := TOTPStep(now)
	// The current step first: the usual case costs one HMAC.
	for _, s := range []int64{current, current - 1, current + 1} {
		match, err := hotp.ValidateCustom(code, uint64(s), secret, totpOpts)
		if err != nil {
			return 0, false, fmt.Errorf("mfa: checking a TOTP code: %w", err)
		}
		if match {
			return s, true, nil
		}
	}
	return 0, false, nil
}

// NormalizeTOTPCode drops the spaces and dashes people type or paste
// between a code's digits; it returns "" for anything that is then not
// TOTPDigits digits.
func NormalizeTOTPCode(code string) string {
	code = strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' || r == '\t' {
			return -1
		}
		return r
	}, code)
	if len(code) != TOTPDigits {
		return ""
	}
	for _, c := range code {
		if c < '0' || c > '9' {
			return ""
		}
	}
	return code
}
