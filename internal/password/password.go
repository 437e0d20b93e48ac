// Package password hashes user passwords with argon2id and checks passwords
// against stored hashes, including bcrypt hashes imported from older systems.
package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"

	"authgate/internal/password/argon2id"
)

// DefaultMaxWait is how long a call waits for a free hashing slot before it
// gives up with ErrBusy, unless SetMaxWait says otherwise.
const DefaultMaxWait = 2 * time.Second

// Bounds on argon2id parameters, both for hashing and for stored hashes. A
// stored hash names its own cost, so without them one corrupt or planted row
// could make a single login allocate gigabytes or run for minutes.
const (
	// MaxMemoryKiB is the most memory one hash may use: 1 GiB. Settings
	// are bounded by it too, so that a hasher built from them never panics.
	MaxMemoryKiB  = 1 << 20
	maxIterations = 100
	minLength     = 8
	maxLength     = 1024
)

// Bounds on imported bcrypt hashes. Each cost step doubles the work; 16 is
// seconds already, while cost 31 would hold a hashing slot for days.
const (
	minBcryptCost = bcrypt.MinCost
	maxBcryptCost = 16
	// bcryptMaxPassword is how many password bytes bcrypt reads; it ignores
	// the rest.
	bcryptMaxPassword = 72
)

// ErrBusy is returned when no hashing slot became free before the context
// ended or the wait limit (see SetMaxWait) passed.
var ErrBusy = errors.New("password: no hashing slot became free in time")

// ErrMalformedHash is returned when a stored hash is not one this package
// understands, or names parameters outside the accepted bounds.
var ErrMalformedHash = errors.New("password: malformed or unsupported password hash")

// ErrInvalidParams is returned by Params.Validate for parameters this package
// refuses to hash with.
var ErrInvalidParams = errors.New("password: invalid argon2id parameters")

// Params are argon2id's cost parameters.
type Params struct {
	// MemoryKiB is the memory one hash uses, in KiB.
	MemoryKiB uint32
	// Iterations is the number of passes over the memory.
	Iterations uint32
	// Parallelism is the number of lanes.
	Parallelism uint8
	// SaltLength is the length of the random salt, in bytes.
	SaltLength uint32
	// KeyLength is the length of the derived key, in bytes.
	KeyLength uint32
}

// DefaultParams returns OWASP's recommended argon2id parameters: 19 MiB of
// memory, 2 iterations, 1 lane, a 16-byte salt and a 32-byte key.
func DefaultParams() Params {
	return Params{MemoryKiB: 19456, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}
}

// Validate returns nil if p is within the bounds this package hashes with and
// accepts from stored hashes (memory at most 1 GiB and at least 8 KiB per
// lane, 1 to 100 iterations, at least one lane, salt and key of 8 to 1024
// bytes); otherwise an error wrapping ErrInvalidParams that names the problem.
func (p Params) Validate() error {
	if problem := p.problem(); problem != "" {
		return fmt.Errorf("%w: %s", ErrInvalidParams, problem)
	}
	return nil
}

func (p Params) problem() string {
	switch {
	case p.MemoryKiB > MaxMemoryKiB:
		return fmt.Sprintf("memory %d KiB is over the %d KiB limit", p.MemoryKiB, MaxMemoryKiB)
	case p.Parallelism == 0:
		return "parallelism is 0"
	case p.MemoryKiB < 8*uint32(p.Parallelism):
		return fmt.Sprintf("memory %d KiB is under 8 KiB per lane", p.MemoryKiB)
	case p.Iterations == 0 || p.Iterations > maxIterations:
		return fmt.Sprintf("iterations %d is outside 1..%d", p.Iterations, maxIterations)
	case p.SaltLength < minLength || p.SaltLength > maxLength:
		return fmt.Sprintf("salt length %d is outside %d..%d", p.SaltLength, minLength, maxLength)
	case p.KeyLength < minLength || p.KeyLength > maxLength:
		return fmt.Sprintf("key length %d is outside %d..%d", p.KeyLength, minLength, maxLength)
	}
	return ""
}

// Hasher hashes and verifies passwords, running at most a fixed number of
// hash computations at once. It is safe for concurrent use.
type Hasher struct {
	params Params
	random io.Reader
	// slots bounds the computations that run at once, sharing them fairly
	// between clients.
	slots *slots
	// memories holds argon2id working memory between hashes (at most one per
	// slot), so a login load does not allocate MemoryKiB per hash.
	memories chan *argon2id.Memory
	// maxWait is a time.Duration, atomic so that SetMaxWait may run while
	// calls are in flight.
	maxWait atomic.Int64
	// dummyHash is a well-formed hash with the current params that no
	// password is expected to match; VerifyDummy checks against it.
	dummyHash string
	// hashes counts the hash computations run (see Hashes).
	hashes atomic.Uint64
	hooks  hooks
}

// hooks let tests observe the semaphore. Every field is nil in production.
type hooks struct {
	// waiting runs when a call found no free slot and starts to wait.
	waiting func()
	// computing runs when a call holds a slot and starts hashing, with
	// the call's client; the function it returns runs when the hashing
	// ends, before the slot is given back.
	computing func(client string) (done func())
}

// New returns a Hasher that hashes with p. maxConcurrent bounds how many
// hashes run at once, so that a login flood cannot starve the CPU or the
// memory (each hash holds p.MemoryKiB); 0 or less means runtime.NumCPU().
// The slots are shared fairly between the clients that WithClient names: a
// client may use every free slot while no other waits, but at most half of
// them (rounded up) while others do, and waiting calls are served in the
// order they came among the clients within their share.
// random supplies salts; it is crypto/rand.Reader in production and nil means
// that too. New panics if p.Validate fails: bad parameters are a configuration
// error that must stop start-up.
func New(p Params, maxConcurrent int, random io.Reader) *Hasher {
	if err := p.Validate(); err != nil {
		panic(err)
	}
	if maxConcurrent <= 0 {
		maxConcurrent = runtime.NumCPU()
	}
	if random == nil {
		random = rand.Reader
	}
	h := &Hasher{
		params:    p,
		random:    random,
		slots:     newSlots(maxConcurrent),
		memories:  make(chan *argon2id.Memory, maxConcurrent),
		dummyHash: encodeArgon2id(p, make([]byte, p.SaltLength), make([]byte, p.KeyLength)),
	}
	h.maxWait.Store(int64(DefaultMaxWait))
	return h
}

// SetMaxWait sets how long a call waits for a free hashing slot before it
// returns ErrBusy; d of 0 or less restores DefaultMaxWait.
func (h *Hasher) SetMaxWait(d time.Duration) {
	if d <= 0 {
		d = DefaultMaxWait
	}
	h.maxWait.Store(int64(d))
}

// Hashes reports how many hash computations h has run: hashing, verifying
// and dummy verifications alike (a bcrypt comparison counts as one). It is
// what a password check costs, for metrics and for tests that prove a
// request was refused before any.
func (h *Hasher) Hashes() uint64 { return h.hashes.Load() }

// Params returns the parameters h hashes with.
func (h *Hasher) Params() Params { return h.params }

// Hash returns password's argon2id hash with a fresh salt, as a PHC string:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<key>, in unpadded standard base64,
// the format of the reference argon2 tool and libsodium. It returns an error
// wrapping ErrBusy if no hashing slot freed in time, or the salt source's
// error wrapped if reading the salt failed.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	salt := make([]byte, h.params.SaltLength)
	if _, err := io.ReadFull(h.random, salt); err != nil {
		return "", fmt.Errorf("password: reading salt: %w", err)
	}
	var key []byte
	err := h.withSlot(ctx, func() {
		key = h.argon2idKey(password, salt, h.params)
	})
	if err != nil {
		return "", err
	}
	return encodeArgon2id(h.params, salt, key), nil
}

// Verify reports whether password matches encoded, an argon2id PHC string or
// a bcrypt hash ($2a$, $2b$ or $2y$, as pgcrypto's crypt(pw, gen_salt('bf'))
// makes). rehash is true when password matched and encoded should be replaced
// by Hash(password): a bcrypt hash, or argon2id with other params than h's.
// A password longer than 72 bytes never matches a bcrypt hash, because bcrypt
// would compare only its first 72 bytes. Verify returns an error wrapping
// ErrMalformedHash for a hash it does not understand or whose parameters are
// out of bounds, and one wrapping ErrBusy if no hashing slot freed in time; a
// mismatch is not an error.
func (h *Hasher) Verify(ctx context.Context, encoded, password string) (ok, rehash bool, err error) {
	switch {
	case strings.HasPrefix(encoded, "$argon2id$"):
		return h.verifyArgon2id(ctx, encoded, password)
	case strings.HasPrefix(encoded, "$2a$"), strings.HasPrefix(encoded, "$2b$"), strings.HasPrefix(encoded, "$2y$"):
		return h.verifyBcrypt(ctx, encoded, password)
	}
	return false, false, fmt.Errorf("%w: unknown hash format", ErrMalformedHash)
}

// VerifyDummy does the work of a failed Verify against a hash with h's
// params, to be called for unknown users so that response time does not tell
// whether an account exists. It returns an error wrapping ErrBusy if no
// hashing slot freed in time, and nil otherwise.
func (h *Hasher) VerifyDummy(ctx context.Context, password string) error {
	_, _, err := h.Verify(ctx, h.dummyHash, password)
	return err
}

func (h *Hasher) verifyArgon2id(ctx context.Context, encoded, password string) (ok, rehash bool, err error) {
	p, salt, key, err := decodeArgon2id(encoded)
	if err != nil {
		return false, false, err
	}
	var computed []byte
	err = h.withSlot(ctx, func() {
		computed = h.argon2idKey(password, salt, p)
	})
	if err != nil {
		return false, false, err
	}
	if subtle.ConstantTimeCompare(computed, key) != 1 {
		return false, false, nil
	}
	return true, p != h.params, nil
}

func (h *Hasher) verifyBcrypt(ctx context.Context, encoded, password string) (ok, rehash bool, err error) {
	if err := checkBcrypt(encoded); err != nil {
		return false, false, err
	}
	var compareErr error
	err = h.withSlot(ctx, func() {
		compareErr = bcrypt.CompareHashAndPassword([]byte(encoded), []byte(password))
	})
	if err != nil {
		return false, false, err
	}
	// bcrypt ignores bytes past 72, so a longer password would match the hash
	// of its prefix. It is refused only after the work so that it takes as
	// long as any other mismatch.
	if len(password) > bcryptMaxPassword {
		return false, false, nil
	}
	switch {
	case compareErr == nil:
		return true, true, nil
	case errors.Is(compareErr, bcrypt.ErrMismatchedHashAndPassword):
		return false, false, nil
	}
	return false, false, fmt.Errorf("%w: bcrypt: %v", ErrMalformedHash, compareErr)
}

// argon2idKey computes password's argon2id key with p in working memory
// borrowed from h; the caller holds a slot, so at most one memory per slot
// ever exists.
func (h *Hasher) argon2idKey(password string, salt []byte, p Params) []byte {
	var m *argon2id.Memory
	select {
	case m = <-h.memories:
	default:
		m = argon2id.NewMemory(h.params.MemoryKiB, h.params.Parallelism)
	}
	defer func() { h.memories <- m }()
	return argon2id.IDKey(m, []byte(password), salt, p.Iterations, p.MemoryKiB, p.Parallelism, p.KeyLength)
}

type clientKey struct{}

// WithClient returns ctx naming the client that hashes under it (for
// authgate, the client's address), so that the hasher can share its slots
// fairly between clients; see New. Calls without one share the client "".
func WithClient(ctx context.Context, client string) context.Context {
	return context.WithValue(ctx, clientKey{}, client)
}

// ClientOf returns the client WithClient stored in ctx, or "".
func ClientOf(ctx context.Context) string {
	c, _ := ctx.Value(clientKey{}).(string)
	return c
}

// withSlot runs compute while holding a hashing slot, or returns an error
// wrapping ErrBusy if none freed in time.
func (h *Hasher) withSlot(ctx context.Context, compute func()) error {
	client := ClientOf(ctx)
	if err := h.acquire(ctx, client); err != nil {
		return err
	}
	defer h.slots.release(client)
	if h.hooks.computing != nil {
		defer h.hooks.computing(client)()
	}
	h.hashes.Add(1)
	compute()
	return nil
}

func (h *Hasher) acquire(ctx context.Context, client string) error {
	// A caller that has already given up must not queue up expensive work.
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrBusy, err)
	}
	if h.slots == nil {
		// A zero Hasher has no slots at all.
		return fmt.Errorf("%w: no hashing slots", ErrBusy)
	}
	w := h.slots.take(client)
	if w == nil {
		return nil
	}
	if h.hooks.waiting != nil {
		h.hooks.waiting()
	}
	wait := time.Duration(h.maxWait.Load())
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-w.granted:
		return nil
	case <-ctx.Done():
		h.slots.abandon(w)
		return fmt.Errorf("%w: %w", ErrBusy, ctx.Err())
	case <-timer.C:
		h.slots.abandon(w)
		return fmt.Errorf("%w: waited %v", ErrBusy, wait)
	}
}
