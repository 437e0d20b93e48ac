package token

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"

	"github.com/golang-jwt/jwt/v5"
)

const minRSABits = 2048

// key is one signing key with what verifying needs of it.
type key struct {
	id     string // RFC 7638 JWK thumbprint
	alg    string // the only algorithm a token with this kid may use
	method jwt.SigningMethod
	sign   any // []byte, *rsa.PrivateKey, *ecdsa.PrivateKey or ed25519.PrivateKey
	verify any // []byte, *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey
	jwk    publicJWK
}

// publicJWK is the public half of a key as RFC 7517 writes it.
type publicJWK struct {
	Kty string `json:"kty"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
}

func newHMACKey(alg string, secret []byte) *key {
	k := b64(secret)
	return &key{
		id:     thumbprint(`{"k":"` + k + `","kty":"oct"}`),
		alg:    alg,
		method: jwt.GetSigningMethod(alg),
		sign:   secret,
		verify: secret,
	}
}

// newAsymmetricKey works out the algorithm of a private key: hasuraType, when
// set, must fit the key; otherwise the key decides (RSA signs RS256).
func newAsymmetricKey(s crypto.Signer, hasuraType string) (*key, error) {
	k := &key{sign: s, verify: s.Public()}
	switch priv := s.(type) {
	case ed25519.PrivateKey:
		if hasuraType != "" && hasuraType != "Ed25519" {
			return nil, fmt.Errorf("an Ed25519 key cannot sign type %s", hasuraType)
		}
		k.alg = jwt.SigningMethodEdDSA.Alg()
		x := b64(priv.Public().(ed25519.PublicKey))
		k.jwk = publicJWK{Kty: "OKP", Crv: "Ed25519", X: x}
		k.id = thumbprint(`{"crv":"Ed25519","kty":"OKP","x":"` + x + `"}`)
	case *rsa.PrivateKey:
		if bits := priv.N.BitLen(); bits < minRSABits {
			return nil, fmt.Errorf("RSA key has %d bits; at least %d are needed", bits, minRSABits)
		}
		switch hasuraType {
		case "":
			k.alg = jwt.SigningMethodRS256.Alg()
		case "RS256", "RS384", "RS512":
			k.alg = hasuraType
		default:
			return nil, fmt.Errorf("an RSA key cannot sign type %s", hasuraType)
		}
		n := b64(priv.N.Bytes())
		e := b64(big.NewInt(int64(priv.E)).Bytes())
		k.jwk = publicJWK{Kty: "RSA", N: n, E: e}
		k.id = thumbprint(`{"e":"` + e + `","kty":"RSA","n":"` + n + `"}`)
	case *ecdsa.PrivateKey:
		alg, crv, err := ecAlgorithm(priv.Curve)
		if err != nil {
			return nil, err
		}
		if hasuraType != "" && hasuraType != alg {
			if need := curveForType(hasuraType); need != "" {
				return nil, fmt.Errorf("type %s needs a %s key, not %s", hasuraType, need, crv)
			}
			return nil, fmt.Errorf("an EC key cannot sign type %s", hasuraType)
		}
		point, err := priv.PublicKey.Bytes()
		if err != nil {
			return nil, fmt.Errorf("EC public key: %s", err)
		}
		// point is 0x04 || X || Y, each coordinate padded to the curve size as RFC 7518 wants.
		size := (len(point) - 1) / 2
		x, y := b64(point[1:1+size]), b64(point[1+size:])
		k.alg = alg
		k.jwk = publicJWK{Kty: "EC", Crv: crv, X: x, Y: y}
		k.id = thumbprint(`{"crv":"` + crv + `","kty":"EC","x":"` + x + `","y":"` + y + `"}`)
	default:
		return nil, fmt.Errorf("%T keys are not supported; use Ed25519, RSA or ECDSA (P-256, P-384, P-521)", s)
	}
	k.method = jwt.GetSigningMethod(k.alg)
	k.jwk.Use = "sig"
	k.jwk.Alg = k.alg
	k.jwk.Kid = k.id
	return k, nil
}

func ecAlgorithm(c elliptic.Curve) (alg, crv string, err error) {
	switch c {
	case elliptic.P256():
		return "ES256", "P-256", nil
	case elliptic.P384():
		return "ES384", "P-384", nil
	case elliptic.P521():
		return "ES512", "P-521", nil
	}
	return "", "", fmt.Errorf("EC curve %s is not supported; use P-256, P-384 or P-521", c.Params().Name)
}

func curveForType(hasuraType string) string {
	switch hasuraType {
	case "ES256":
		return "P-256"
	case "ES384":
		return "P-384"
	case "ES512":
		return "P-521"
	}
	return ""
}

// parsePrivateKeysPEM reads one or more PKCS#8 "PRIVATE KEY" blocks and
// nothing else.
func parsePrivateKeysPEM(text []byte) ([]crypto.Signer, error) {
	var signers []crypto.Signer
	rest := text
	for n := 1; ; n++ {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "PRIVATE KEY" {
			return nil, fmt.Errorf("key %d is a %q PEM block; want an unencrypted PKCS#8 \"PRIVATE KEY\" (convert with: openssl pkcs8 -topk8 -nocrypt)", n, block.Type)
		}
		parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("key %d is not a valid PKCS#8 private key: %s", n, oneLine(err.Error()))
		}
		s, ok := parsed.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("key %d: %T keys cannot sign", n, parsed)
		}
		signers = append(signers, s)
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		if len(signers) == 0 {
			return nil, errors.New("holds no PEM \"PRIVATE KEY\" block")
		}
		return nil, fmt.Errorf("unreadable text after key %d", len(signers))
	}
	if len(signers) == 0 {
		return nil, errors.New("holds no PEM \"PRIVATE KEY\" block")
	}
	return signers, nil
}

// parsePublicKeyPEM reads the public key Hasura's key setting holds: a PKIX
// "PUBLIC KEY", a PKCS#1 "RSA PUBLIC KEY" or an X.509 "CERTIFICATE". Like
// Hasura (Server/Auth/JWT/Internal.hs, fromRawPem: getAtleastOne) it reads
// the first PEM block and ignores the rest, so a certificate chain works.
func parsePublicKeyPEM(text string) (crypto.PublicKey, error) {
	block, _ := pem.Decode([]byte(text))
	if block == nil {
		return nil, errors.New("holds no PEM block")
	}
	switch block.Type {
	case "PUBLIC KEY":
		pub, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("not a valid public key: %s", oneLine(err.Error()))
		}
		return pub, nil
	case "RSA PUBLIC KEY":
		pub, err := x509.ParsePKCS1PublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("not a valid RSA public key: %s", oneLine(err.Error()))
		}
		return pub, nil
	case "CERTIFICATE":
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("not a valid certificate: %s", oneLine(err.Error()))
		}
		return cert.PublicKey, nil
	}
	return nil, fmt.Errorf("is a %q PEM block; want \"PUBLIC KEY\"", block.Type)
}

func buildJWKS(keys []*key) []byte {
	set := struct {
		Keys []publicJWK `json:"keys"`
	}{Keys: []publicJWK{}}
	for _, k := range keys {
		if k.jwk.Kty != "" {
			set.Keys = append(set.Keys, k.jwk)
		}
	}
	out, err := json.Marshal(set)
	if err != nil {
		panic("token: marshalling a JWKS of plain strings failed: " + err.Error())
	}
	return out
}

// thumbprint is RFC 7638: base64url(SHA-256(the required members, sorted,
// without whitespace)). Callers build that JSON from base64url values and fixed
// names, which need no escaping.
func thumbprint(canonicalJWK string) string {
	sum := sha256.Sum256([]byte(canonicalJWK))
	return b64(sum[:])
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// GenerateKey makes a new private key for AUTHGATE_JWT_PRIVATE_KEYS and returns
// it as a PKCS#8 PEM block. keyType is Ed25519, RS256, RS384, RS512 (all
// 2048-bit RSA), ES256, ES384 or ES512. random feeds Ed25519 keys; since Go 1.26
// RSA and ECDSA keys always draw from the system's secure source and ignore it.
// A nil random means crypto/rand.Reader.
//
// It returns an error for any other keyType, or when random fails.
func GenerateKey(keyType string, random io.Reader) (string, error) {
	var (
		priv any
		err  error
	)
	switch keyType {
	case "Ed25519":
		_, priv, err = ed25519.GenerateKey(random)
	case "RS256", "RS384", "RS512":
		priv, err = rsa.GenerateKey(orSystemRandom(random), minRSABits)
	case "ES256":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), orSystemRandom(random))
	case "ES384":
		priv, err = ecdsa.GenerateKey(elliptic.P384(), orSystemRandom(random))
	case "ES512":
		priv, err = ecdsa.GenerateKey(elliptic.P521(), orSystemRandom(random))
	default:
		return "", fmt.Errorf("token: key type %q is not one of Ed25519, RS256, RS384, RS512, ES256, ES384, ES512", keyType)
	}
	if err != nil {
		return "", fmt.Errorf("token: generating a %s key: %w", keyType, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return "", fmt.Errorf("token: encoding a %s key: %w", keyType, err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), nil
}
