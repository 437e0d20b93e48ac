package auth_test

import (
	"sync"
	"testing"

	"authgate/internal/auth"
	"authgate/internal/authtest"
)

// passkeyOnlyUser is a user made by a provider sign-in whose identity was
// then unlinked (a passkey lets it go): no password, no identity, one
// passkey. It returns a level-2 session (a passkey sign-in) and the passkey.
func passkeyOnlyUser(t *testing.T, env *authtest.Env) (*auth.AuthPayload, *authtest.Authenticator) {
	t.Helper()
	p, err := env.Service.SignInWithIdentity(bg, google("g-1", "a@example.com", true), nil)
	if err != nil {
		t.Fatal(err)
	}
	a := registerPasskey(t, env, p)
	if ok, err := env.Service.UnlinkIdentity(bg, p.User.ID, "google"); err != nil || !ok {
		t.Fatalf("unlink: %v %v", ok, err)
	}
	strong, err := passkeySignIn(env, a, nil)
	if err != nil {
		t.Fatal(err)
	}
	return strong, a
}

func passkeyIDs(t *testing.T, env *authtest.Env, userID string) []string {
	t.Helper()
	_, passkeys, err := env.Service.UserFactors(bg, userID)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, p := range passkeys {
		ids = append(ids, p.ID)
	}
	return ids
}

// A passwordless user's only passkey is its last way to sign in: removing
// it is BAD_USER_INPUT (as unlinking the last identity is) and changes
// nothing; with a second passkey either may go, not both.
func TestRemovePasskeyNeverRemovesTheLastWayToSignIn(t *testing.T) {
	env := providerEnv(t)
	strong, a := passkeyOnlyUser(t, env)
	only := passkeyIDs(t, env, strong.User.ID)
	if len(only) != 1 {
		t.Fatalf("passkeys %v", only)
	}
	before := countIdentityState(t, env)
	_, err := env.Service.RemovePasskey(authtest.As(strong), only[0])
	wantCode(t, err, auth.CodeBadUserInput)
	wantUnchanged(t, env, before)
	if _, err := passkeySignIn(env, a, nil); err != nil {
		t.Fatalf("the last passkey no longer signs in: %v", err)
	}

	registerPasskey(t, env, strong)
	if ok, err := env.Service.RemovePasskey(authtest.As(strong), only[0]); err != nil || !ok {
		t.Fatalf("remove one of two: %v %v", ok, err)
	}
	left := passkeyIDs(t, env, strong.User.ID)
	_, err = env.Service.RemovePasskey(authtest.As(strong), left[0])
	wantCode(t, err, auth.CodeBadUserInput)

	// A password is a way in: with one, the last passkey may go.
	t.Run("a password lets the last passkey go", func(t *testing.T) {
		env := providerEnv(t)
		p := env.Signup(t, "b@example.com", "correct horse")
		a := registerPasskey(t, env, p)
		strong, err := passkeySignIn(env, a, nil)
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := env.Service.RemovePasskey(authtest.As(strong), passkeyIDs(t, env, p.User.ID)[0]); err != nil || !ok {
			t.Fatalf("remove: %v %v", ok, err)
		}
	})
}

// Two removals of a passwordless user's last two ways in at once (two
// passkeys; a passkey and an identity): each alone would leave the other.
// Both wait for the test's lock on the user's row, then run one after the
// other, and the second finds the first's removal and refuses.
func TestTwoRacingRemovalsLeaveOneWayIn(t *testing.T) {
	t.Run("two passkeys", func(t *testing.T) {
		env := providerEnv(t)
		strong, _ := passkeyOnlyUser(t, env)
		registerPasskey(t, env, strong)
		ids := passkeyIDs(t, env, strong.User.ID)
		remove := func(id string) func() error {
			return func() error { _, err := env.Service.RemovePasskey(authtest.As(strong), id); return err }
		}
		raceRemovals(t, env, strong.User.ID, remove(ids[0]), remove(ids[1]))
		if left := passkeyIDs(t, env, strong.User.ID); len(left) != 1 {
			t.Fatalf("passkeys left %v", left)
		}
	})
	t.Run("a passkey and an identity", func(t *testing.T) {
		env := providerEnv(t)
		p, err := env.Service.SignInWithIdentity(bg, google("g-1", "a@example.com", true), nil)
		if err != nil {
			t.Fatal(err)
		}
		a := registerPasskey(t, env, p)
		strong, err := passkeySignIn(env, a, nil)
		if err != nil {
			t.Fatal(err)
		}
		id := passkeyIDs(t, env, p.User.ID)[0]
		raceRemovals(t, env, p.User.ID,
			func() error { _, err := env.Service.RemovePasskey(authtest.As(strong), id); return err },
			func() error { _, err := env.Service.UnlinkIdentity(bg, p.User.ID, "google"); return err })
		ids, _ := env.Service.Identities(bg, p.User.ID)
		if n := len(ids) + len(passkeyIDs(t, env, p.User.ID)); n != 1 {
			t.Fatalf("%d ways in left, want 1", n)
		}
	})
}

// raceRemovals runs removals of userID's ways in at once: all wait for the
// test's lock on the user's row, then run one after the other. Exactly one
// of two must win and the other be refused (BAD_USER_INPUT: the last way in).
func raceRemovals(t *testing.T, env *authtest.Env, userID string, removals ...func() error) {
	t.Helper()
	end := heldRow(t, env, `SELECT 1 FROM auth.users WHERE id = $1 FOR UPDATE`, userID)
	errs := make(chan error, len(removals))
	var wg sync.WaitGroup
	for _, remove := range removals {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- remove()
		}()
	}
	waitForLockWaiters(t, env, len(removals), "the racing removals")
	end(true)
	wg.Wait()
	close(errs)
	var won, refused int
	for err := range errs {
		switch {
		case err == nil:
			won++
		case auth.CodeOf(err) == auth.CodeBadUserInput:
			refused++
		default:
			t.Fatal(err)
		}
	}
	if won != 1 || refused != 1 {
		t.Fatalf("won %d, refused %d", won, refused)
	}
}
