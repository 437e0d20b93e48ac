//go:build !race

package auth_test

// raceDetector reports whether the tests run with -race, which makes
// argon2id about ten times slower.
const raceDetector = false
