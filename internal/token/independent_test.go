package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"math/big"
	"slices"
	"strings"
	"testing"

	"authgate/internal/clock"
)

// TestTokensVerifyIndependently checks every kind of token against its JWKS
// (or the HMAC secret) with the standard library alone: no golang-jwt and none
// of the package's own key handling, the way a third party such as Hasura
// would.
func TestTokensVerifyIndependently(t *testing.T) {
	keys := newTestKeys(t)
	for _, typ := range allTypes() {
		t.Run(typ, func(t *testing.T) {
			cfg := configFor(t, keys, typ, map[string]any{"issuer": fixtureIssuer, "audience": []string{"hasura", "reports"}})
			clk := clock.NewFake(startTime())
			tok, err := newTestIssuer(cfg, clk).Issue(sampleClaims())
			if err != nil {
				t.Fatal(err)
			}
			secret := []byte(nil)
			if cfg.Symmetric() {
				secret = []byte(testSecret)
			}

			payload, err := verifyIndependently(tok.Value, cfg.JWKS(), secret)
			if err != nil {
				t.Fatalf("independent check: %v", err)
			}
			if payload["iss"] != fixtureIssuer || !slices.Contains(audienceOf(payload), "hasura") {
				t.Errorf("iss %v aud %v; want %s and hasura", payload["iss"], payload["aud"], fixtureIssuer)
			}
			now := float64(clk.Now().Unix())
			if exp, _ := payload["exp"].(float64); exp <= now {
				t.Errorf("exp %v is not after now %v", exp, now)
			}
			namespace, _ := payload[defaultNamespace].(map[string]any)
			if namespace["x-hasura-user-id"] != sampleClaims().UserID || namespace["x-hasura-default-role"] != "user" {
				t.Errorf("namespace %v", namespace)
			}

			parts := strings.Split(tok.Value, ".")
			forged := parts[0] + "." + encodeSegment(t, map[string]any{"sub": "admin"}) + "." + parts[2]
			if _, err := verifyIndependently(forged, cfg.JWKS(), secret); err == nil {
				t.Error("the independent check accepted an edited payload; it proves nothing")
			}
		})
	}
}

// verifyIndependently checks a compact JWS and returns its payload. The key is
// rebuilt from the JWKS member whose kid the header names, after checking that
// kid is the RFC 7638 thumbprint of that member.
func verifyIndependently(raw string, jwks, secret []byte) (map[string]any, error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, errors.New("not three segments")
	}
	var header struct {
		Alg, Typ, Kid string
	}
	if err := decodeSegmentInto(parts[0], &header); err != nil {
		return nil, err
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, err
	}
	input := []byte(parts[0] + "." + parts[1])
	digest := func(h crypto.Hash) []byte {
		hasher := h.New()
		hasher.Write(input)
		return hasher.Sum(nil)
	}

	if header.Alg[:2] == "HS" {
		hashes := map[string]func() hash.Hash{"HS256": sha256.New, "HS384": sha512.New384, "HS512": sha512.New}
		mac := hmac.New(hashes[header.Alg], secret)
		mac.Write(input)
		if !hmac.Equal(mac.Sum(nil), sig) {
			return nil, errors.New("HMAC mismatch")
		}
		if header.Kid != octThumbprint(secret) {
			return nil, errors.New("HMAC kid is not the thumbprint of the secret")
		}
	} else {
		jwk, err := findJWK(jwks, header.Kid)
		if err != nil {
			return nil, err
		}
		if jwk["alg"] != header.Alg || jwk["use"] != "sig" {
			return nil, fmt.Errorf("JWK alg %q use %q for a %s token", jwk["alg"], jwk["use"], header.Alg)
		}
		if err := verifyWithJWK(jwk, header.Alg, input, digest, sig); err != nil {
			return nil, err
		}
	}

	var payload map[string]any
	if err := decodeSegmentInto(parts[1], &payload); err != nil {
		return nil, err
	}
	return payload, nil
}

func verifyWithJWK(jwk map[string]string, alg string, input []byte, digest func(crypto.Hash) []byte, sig []byte) error {
	hashes := map[string]crypto.Hash{"256": crypto.SHA256, "384": crypto.SHA384, "512": crypto.SHA512}
	field := func(name string) []byte {
		b, _ := base64.RawURLEncoding.DecodeString(jwk[name])
		return b
	}
	switch jwk["kty"] {
	case "OKP":
		if jwk["crv"] != "Ed25519" || alg != "EdDSA" || !ed25519.Verify(ed25519.PublicKey(field("x")), input, sig) {
			return errors.New("Ed25519 signature does not verify")
		}
	case "RSA":
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(field("n")), E: int(new(big.Int).SetBytes(field("e")).Int64())}
		h := hashes[alg[2:]]
		if err := rsa.VerifyPKCS1v15(pub, h, digest(h), sig); err != nil {
			return err
		}
	case "EC":
		curves := map[string]elliptic.Curve{"P-256": elliptic.P256(), "P-384": elliptic.P384(), "P-521": elliptic.P521()}
		curve := curves[jwk["crv"]]
		size := (curve.Params().BitSize + 7) / 8
		x, y := field("x"), field("y")
		if len(x) != size || len(y) != size || len(sig) != 2*size {
			return errors.New("EC coordinates or signature are not padded to the curve size")
		}
		pub, err := ecdsa.ParseUncompressedPublicKey(curve, append(append([]byte{4}, x...), y...))
		if err != nil {
			return err
		}
		r, s := new(big.Int).SetBytes(sig[:size]), new(big.Int).SetBytes(sig[size:])
		if !ecdsa.Verify(pub, digest(hashes[alg[2:]]), r, s) {
			return errors.New("ECDSA signature does not verify")
		}
	default:
		return fmt.Errorf("kty %q", jwk["kty"])
	}
	return nil
}

// findJWK returns the JWKS member with kid, having checked that kid is the
// member's RFC 7638 thumbprint.
func findJWK(jwks []byte, kid string) (map[string]string, error) {
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(jwks, &set); err != nil {
		return nil, err
	}
	required := map[string][]string{"OKP": {"crv", "kty", "x"}, "RSA": {"e", "kty", "n"}, "EC": {"crv", "kty", "x", "y"}}
	for _, jwk := range set.Keys {
		if jwk["kid"] != kid {
			continue
		}
		members := map[string]string{}
		for _, name := range required[jwk["kty"]] {
			members[name] = jwk[name]
		}
		canonical, err := json.Marshal(members) // sorted keys, no whitespace
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(canonical)
		if b64(sum[:]) != kid {
			return nil, errors.New("kid is not the RFC 7638 thumbprint of its JWK")
		}
		return jwk, nil
	}
	return nil, fmt.Errorf("no JWK with kid %s", kid)
}

func octThumbprint(secret []byte) string {
	canonical, _ := json.Marshal(map[string]string{"kty": "oct", "k": base64.RawURLEncoding.EncodeToString(secret)})
	sum := sha256.Sum256(canonical)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func decodeSegmentInto(segment string, v any) error {
	data, err := base64.RawURLEncoding.DecodeString(segment)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}

func audienceOf(payload map[string]any) []string {
	switch aud := payload["aud"].(type) {
	case string:
		return []string{aud}
	case []any:
		var out []string
		for _, a := range aud {
			s, _ := a.(string)
			out = append(out, s)
		}
		return out
	}
	return nil
}
