// Package sealbox seals small payloads that must not sit readable in the
// database (a mail carrying a reset link): AES-256-GCM under a key derived
// by HKDF-SHA-256 from a server secret and a purpose label, so one secret
// keys many purposes without one purpose's box opening another's. Boxes
// sealed under a previous secret still open while that secret is listed as
// previous (key rotation).
package sealbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
)

// MinSecretLength is the shortest secret a box is keyed from, in bytes.
const MinSecretLength = 32

// version is the first byte of every sealed payload: the format below.
const version byte = 1

// The sealed format: version, key id, nonce, ciphertext with its tag.
const (
	keyIDSize  = 4
	nonceSize  = 12
	headerSize = 1 + keyIDSize + nonceSize
)

// ErrCannotOpen is what Open returns for a payload that is not a box sealed
// by this purpose under the current or a previous secret, or was changed.
var ErrCannotOpen = errors.New("sealbox: cannot open: not sealed for this purpose by a known secret, or tampered with")

// Box seals and opens payloads for one purpose. It is safe for concurrent
// use.
type Box struct {
	purpose string
	// keys[0] seals; every key opens.
	keys []key
}

type key struct {
	id   [keyIDSize]byte
	aead cipher.AEAD
}

// New returns a box for purpose keyed from secret, which also opens what was
// sealed for purpose under any of previous. It fails when purpose is empty
// or a secret is shorter than MinSecretLength.
func New(purpose string, secret []byte, previous ...[]byte) (*Box, error) {
	if purpose == "" {
		return nil, errors.New("sealbox: a purpose label is required")
	}
	b := &Box{purpose: purpose}
	for i, s := range append([][]byte{secret}, previous...) {
		if len(s) < MinSecretLength {
			if i == 0 {
				return nil, fmt.Errorf("sealbox: the secret must be at least %d bytes, got %d", MinSecretLength, len(s))
			}
			return nil, fmt.Errorf("sealbox: previous secret %d must be at least %d bytes, got %d", i, MinSecretLength, len(s))
		}
		k, err := deriveKey(purpose, s)
		if err != nil {
			return nil, err
		}
		b.keys = append(b.keys, k)
	}
	return b, nil
}

func deriveKey(purpose string, secret []byte) (key, error) {
	raw, err := hkdf.Key(sha256.New, secret, nil, "authgate sealbox v1 key: "+purpose, 32)
	if err != nil {
		return key{}, err
	}
	// The id names the key without revealing it: derived apart from it.
	id, err := hkdf.Key(sha256.New, secret, nil, "authgate sealbox v1 key id: "+purpose, keyIDSize)
	if err != nil {
		return key{}, err
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return key{}, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return key{}, err
	}
	k := key{aead: aead}
	copy(k.id[:], id)
	return k, nil
}

// Seal returns plaintext sealed under the current key with a fresh random
// nonce (random 96-bit nonces are safe for far more payloads than one key
// will ever seal here).
func (b *Box) Seal(plaintext []byte) []byte {
	k := b.keys[0]
	out := make([]byte, headerSize, headerSize+len(plaintext)+k.aead.Overhead())
	out[0] = version
	copy(out[1:], k.id[:])
	// crypto/rand.Read never fails (it crashes the program instead).
	_, _ = rand.Read(out[1+keyIDSize : headerSize])
	return k.aead.Seal(out, out[1+keyIDSize:headerSize], plaintext, b.additionalData(out[:1+keyIDSize]))
}

// Open returns the plaintext of a payload Seal made under the current or a
// previous key; ErrCannotOpen for anything else.
func (b *Box) Open(sealed []byte) ([]byte, error) {
	if len(sealed) < headerSize || sealed[0] != version {
		return nil, ErrCannotOpen
	}
	for _, k := range b.keys {
		if [keyIDSize]byte(sealed[1:1+keyIDSize]) != k.id {
			continue
		}
		plain, err := k.aead.Open(nil, sealed[1+keyIDSize:headerSize], sealed[headerSize:], b.additionalData(sealed[:1+keyIDSize]))
		if err != nil {
			return nil, ErrCannotOpen
		}
		return plain, nil
	}
	return nil, ErrCannotOpen
}

// additionalData binds the header and the purpose into the tag.
func (b *Box) additionalData(header []byte) []byte {
	return append(append([]byte{}, header...), b.purpose...)
}
