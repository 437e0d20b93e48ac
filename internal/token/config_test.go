package token

import (
	"crypto/ecdh"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseConfigRefusals(t *testing.T) {
	keys := newTestKeys(t)
	otherEd := generate(t, "Ed25519")
	weakRSA := func() string {
		priv, err := rsa.GenerateKey(rand.Reader, 1024)
		if err != nil {
			t.Fatal(err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(priv)
		if err != nil {
			t.Fatal(err)
		}
		return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	}()
	pkcs1RSA := func() string {
		der := x509.MarshalPKCS1PrivateKey(signerOf(t, keys.rsa).(*rsa.PrivateKey))
		return string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: der}))
	}()
	x25519 := func() string {
		priv, err := ecdh.X25519().GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(priv)
		if err != nil {
			t.Fatal(err)
		}
		return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	}()
	jwkURL := `"jwk_url":"https://auth.example.com/.well-known/jwks.json"`
	edPublic := quote(publicPEM(t, keys.ed))
	hs := func(extra string) string { return `{"type":"HS256","key":"` + testSecret + `"` + extra + `}` }

	const (
		secretSetting = "HASURA_GRAPHQL_JWT_SECRET"
		keysSetting   = "AUTHGATE_JWT_PRIVATE_KEYS"
	)
	tests := []struct {
		name        string
		secret      string
		privateKeys string
		setting     string
		want        string
	}{
		{"nothing set is refused", "", "  ", secretSetting, "HASURA_GRAPHQL_JWT_SECRET is not set"},

		{"secret that is not JSON is refused", `{"type":`, "", secretSetting, "not valid JSON"},
		{"secret that is a JSON list is refused", `["HS256"]`, "", secretSetting, "must be a JSON object"},
		{"text after the JSON object is refused", hs("") + `{}`, "", secretSetting, "unexpected text after the JSON object"},
		{"field of the wrong JSON type is refused", `{"type":256}`, "", secretSetting, "type must not be a JSON number"},
		{"claims_map without the role claims is refused", hs(`,"claims_map":{"x-hasura-user-id":{"path":"$.sub"}}`), "", secretSetting, "claims_map needs x-hasura-allowed-roles"},
		{"claims_namespace with claims_namespace_path is refused", hs(`,"claims_namespace":"a","claims_namespace_path":"$.a"`), "", secretSetting, "not both"},
		{"claims_namespace naming a registered claim is refused", hs(`,"claims_namespace":"sub"`), "", secretSetting, `cannot be "sub"`},
		{"claims_namespace_path with an open bracket is refused", hs(`,"claims_namespace_path":"$['claims"`), "", secretSetting, "not closed"},
		{"claims_namespace_path with an empty step is refused", hs(`,"claims_namespace_path":"$.a..b"`), "", secretSetting, "a name must start with a letter or _"},
		{"claims_namespace_path into a registered claim is refused", hs(`,"claims_namespace_path":"$.exp.x"`), "", secretSetting, `cannot be "exp"`},
		{"unknown claims_format is refused", hs(`,"claims_format":"yaml"`), "", secretSetting, `claims_format "yaml"`},
		{"stringified_json at the top level is refused", hs(`,"claims_namespace_path":"$","claims_format":"stringified_json"`), "", secretSetting, "stringified_json needs a claims namespace"},
		{"empty issuer is refused", hs(`,"issuer":""`), "", secretSetting, "issuer is empty"},
		{"numeric audience is refused", hs(`,"audience":7`), "", secretSetting, "audience must be a string or a list of strings"},
		{"empty audience list is refused", hs(`,"audience":[]`), "", secretSetting, "audience must not be empty"},
		{"empty audience string is refused", hs(`,"audience":""`), "", secretSetting, "audience is empty"},
		{"negative allowed_skew is refused", hs(`,"allowed_skew":-1`), "", secretSetting, "allowed_skew"},
		{"quoted allowed_skew is refused", hs(`,"allowed_skew":"60"`), "", secretSetting, "allowed_skew"},
		{"allowed_skew over an hour is refused", hs(`,"allowed_skew":3601`), "", secretSetting, "allowed_skew"},

		{"unsupported type is refused", `{"type":"PS256",` + jwkURL + `}`, keys.rsa, secretSetting, `type "PS256" is not supported`},
		{"lower-case type is refused", `{"type":"hs256","key":"` + testSecret + `"}`, "", secretSetting, `type "hs256" is not supported`},
		{"HS256 key under 32 bytes is refused", `{"type":"HS256","key":"` + secretOfLength(31) + `"}`, "", secretSetting, "HS256 key must be at least 32 bytes"},
		{"HS384 key under 48 bytes is refused", `{"type":"HS384","key":"` + secretOfLength(47) + `"}`, "", secretSetting, "HS384 key must be at least 48 bytes"},
		{"HS512 key under 64 bytes is refused", `{"type":"HS512","key":"` + secretOfLength(63) + `"}`, "", secretSetting, "HS512 key must be at least 64 bytes"},
		{"HS type without key is refused", `{"type":"HS256"}`, "", secretSetting, "type HS256 needs key"},
		{"HS type with jwk_url is refused", `{"type":"HS256",` + jwkURL + `}`, "", secretSetting, "takes key, not jwk_url"},
		{"HS type with private keys is refused as ambiguous", hs(""), keys.ed, keysSetting, "must be empty when HASURA_GRAPHQL_JWT_SECRET has type HS256"},

		{"asymmetric type with key but no private keys is refused", `{"type":"Ed25519","key":` + edPublic + `}`, "", keysSetting, "AUTHGATE_JWT_PRIVATE_KEYS is not set"},
		{"jwk_url without private keys is refused", `{` + jwkURL + `}`, "", keysSetting, "AUTHGATE_JWT_PRIVATE_KEYS is not set"},
		{"key and jwk_url together are refused", `{"type":"Ed25519","key":` + edPublic + `,` + jwkURL + `}`, keys.ed, secretSetting, "set key or jwk_url, not both"},
		{"key without type is refused", `{"key":` + edPublic + `}`, keys.ed, secretSetting, "key needs type"},
		{"neither key nor jwk_url is refused", `{"issuer":"https://auth.example.com"}`, keys.ed, secretSetting, "needs key (with type) or jwk_url"},
		{"empty jwk_url is refused", `{"jwk_url":""}`, keys.ed, secretSetting, "jwk_url is empty"},
		{"public key of another key pair is refused", `{"type":"Ed25519","key":` + edPublic + `}`, otherEd, keysSetting, "the first private key does not match the public key in HASURA_GRAPHQL_JWT_SECRET"},
		{"public key matching only the second private key is refused", `{"type":"Ed25519","key":` + edPublic + `}`, otherEd + keys.ed, keysSetting, "the first private key does not match"},
		{"public key that is not PEM is refused", `{"type":"Ed25519","key":"MCowBQYDK2VwAyEA"}`, keys.ed, secretSetting, "key: holds no PEM block"},
		{"private key PEM as the public key is refused", `{"type":"Ed25519","key":` + quote(keys.ed) + `}`, keys.ed, secretSetting, `"PRIVATE KEY" PEM block; want "PUBLIC KEY"`},

		{"missing private key file is refused", `{` + jwkURL + `}`, filepath.Join(t.TempDir(), "missing.pem"), keysSetting, "reading it as a file failed"},
		{"PKCS#1 RSA key is refused", `{` + jwkURL + `}`, pkcs1RSA, keysSetting, `key 1 is a "RSA PRIVATE KEY" PEM block`},
		{"encrypted key is refused", `{` + jwkURL + `}`, "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n", keysSetting, `"ENCRYPTED PRIVATE KEY"`},
		{"corrupt PKCS#8 key is refused", `{` + jwkURL + `}`, "-----BEGIN PRIVATE KEY-----\nMIIBAAAA\n-----END PRIVATE KEY-----\n", keysSetting, "key 1 is not a valid PKCS#8 private key"},
		{"text after the keys is refused", `{` + jwkURL + `}`, keys.ed + "trailing", keysSetting, "unreadable text after key 1"},
		{"PEM marker without a block is refused", `{` + jwkURL + `}`, "-----BEGIN nothing", keysSetting, "holds no PEM"},
		{"RSA key under 2048 bits is refused", `{` + jwkURL + `}`, weakRSA, keysSetting, "RSA key has 1024 bits; at least 2048 are needed"},
		{"X25519 key is refused", `{` + jwkURL + `}`, x25519, keysSetting, "cannot sign"},
		{"ES256 with a P-384 key is refused", `{"type":"ES256",` + jwkURL + `}`, keys.p384, keysSetting, "type ES256 needs a P-256 key, not P-384"},
		{"RS256 with an Ed25519 key is refused", `{"type":"RS256",` + jwkURL + `}`, keys.ed, keysSetting, "an Ed25519 key cannot sign type RS256"},
		{"RS256 with an EC key is refused", `{"type":"RS256",` + jwkURL + `}`, keys.p256, keysSetting, "an EC key cannot sign type RS256"},
		{"Ed25519 with an RSA key is refused", `{"type":"Ed25519",` + jwkURL + `}`, keys.rsa, keysSetting, "an RSA key cannot sign type Ed25519"},
		{"type that fits the first key but not a later one is refused", `{"type":"Ed25519",` + jwkURL + `}`, keys.ed + keys.p256, keysSetting, "key 2"},
		{"the same key twice is refused", "", keys.ed + keys.ed, keysSetting, "key 2 is listed twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ParseConfig(tt.secret, tt.privateKeys)
			if err == nil {
				t.Fatalf("ParseConfig accepted it: %v", cfg)
			}
			msg := err.Error()
			if strings.ContainsAny(msg, "\r\n") {
				t.Errorf("error is more than one line: %q", msg)
			}
			if !strings.Contains(msg, tt.setting) {
				t.Errorf("error %q does not name %s", msg, tt.setting)
			}
			if !strings.Contains(msg, tt.want) {
				t.Errorf("error %q does not say %q", msg, tt.want)
			}
			if strings.Contains(msg, testSecret[:31]) {
				t.Errorf("error %q quotes the secret", msg)
			}
		})
	}
}

func TestParseConfigAccepts(t *testing.T) {
	keys := newTestKeys(t)
	keyFile := filepath.Join(t.TempDir(), "keys.pem")
	if err := os.WriteFile(keyFile, []byte(keys.p384+keys.ed), 0o600); err != nil {
		t.Fatal(err)
	}
	jwkURL := `"jwk_url":"https://auth.example.com/.well-known/jwks.json"`

	tests := []struct {
		name        string
		secret      string
		privateKeys string
		alg         string
		symmetric   bool
		skew        time.Duration
		kids        int
	}{
		{"HS256 secret of exactly 32 bytes", `{"type":"HS256","key":"` + secretOfLength(32) + `"}`, "", "HS256", true, 0, 1},
		{"HS512 with every optional setting", `{"type":"HS512","key":"` + testSecret + `","claims_namespace":"c","claims_format":"stringified_json","issuer":"i","audience":["a","b"],"allowed_skew":60,"header":{"type":"Cookie","name":"jwt"}}`, "", "HS512", true, time.Minute, 1},
		{"null optional fields count as absent", `{"type":"HS256","key":"` + testSecret + `","claims_map":null,"issuer":null,"audience":null,"allowed_skew":null}`, "", "HS256", true, 0, 1},
		{"only private keys means the jwk_url form", "", keys.ed, "EdDSA", false, 0, 1},
		{"whitespace around the settings is ignored", "  \n", "\n" + keys.ed + "\n\n", "EdDSA", false, 0, 1},
		{"public key form for Ed25519", `{"type":"Ed25519","key":` + quote(publicPEM(t, keys.ed)) + `}`, keys.ed, "EdDSA", false, 0, 1},
		{"public key form for RS384", `{"type":"RS384","key":` + quote(publicPEM(t, keys.rsa)) + `}`, keys.rsa, "RS384", false, 0, 1},
		{"public key form for ES512", `{"type":"ES512","key":` + quote(publicPEM(t, keys.p521)) + `}`, keys.p521, "ES512", false, 0, 1},
		{"jwk_url with an RSA key signs RS256", `{` + jwkURL + `}`, keys.rsa, "RS256", false, 0, 1},
		{"jwk_url with type RS512 signs RS512", `{"type":"RS512",` + jwkURL + `}`, keys.rsa, "RS512", false, 0, 1},
		{"jwk_url with a P-256 key signs ES256", `{` + jwkURL + `}`, keys.p256, "ES256", false, 0, 1},
		{"jwk_url with a P-521 key signs ES512", `{` + jwkURL + `}`, keys.p521, "ES512", false, 0, 1},
		{"keys read from a file, the first signing", `{` + jwkURL + `}`, keyFile, "ES384", false, 0, 2},
		{"keys of different families rotate under jwk_url", `{` + jwkURL + `}`, keys.ed + keys.rsa + keys.p256, "EdDSA", false, 0, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ParseConfig(tt.secret, tt.privateKeys)
			if err != nil {
				t.Fatalf("ParseConfig: %v", err)
			}
			if cfg.Algorithm() != tt.alg || cfg.Symmetric() != tt.symmetric || cfg.AllowedSkew() != tt.skew || len(cfg.keys) != tt.kids {
				t.Errorf("got alg %s symmetric %v skew %v keys %d; want %s %v %v %d",
					cfg.Algorithm(), cfg.Symmetric(), cfg.AllowedSkew(), len(cfg.keys), tt.alg, tt.symmetric, tt.skew, tt.kids)
			}
			if printed := cfg.String() + " " + cfg.GoString(); strings.Contains(printed, testSecret[:32]) || strings.Contains(printed, "PRIVATE") {
				t.Errorf("String leaks key material: %s", printed)
			}
		})
	}
}
