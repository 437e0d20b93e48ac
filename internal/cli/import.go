package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"authgate/internal/auth"
)

// maxImportLine bounds one line of `authgate user import`.
const maxImportLine = 64 << 10

// importRecord is one line of `authgate user import`.
type importRecord struct {
	Email        *string  `json:"email"`
	PasswordHash *string  `json:"password_hash"`
	DefaultRole  string   `json:"default_role"`
	AllowedRoles []string `json:"allowed_roles"`
	Enabled      *bool    `json:"enabled"`
}

// runUserImport runs `authgate user import`: one JSON object per line on
// stdin, each a user with a password hash made elsewhere. It reports what
// it did with each line, goes on past rejected lines, and fails (after the
// summary) if any line was rejected. It stops at the first failure that is
// no fault of the line (the database went away).
func runUserImport(ctx context.Context, args []string, env Env) error {
	fs := newFlagSet("user import", env)
	verified := fs.Bool("verified", false, "import every address as verified (else unverified until its owner proves it)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	p, err := buildFromEnv(ctx, env)
	if err != nil {
		return err
	}
	defer p.store.Close()

	var imported, rejected int
	r := bufio.NewReaderSize(env.Stdin, 64<<10)
	for n := 1; ; n++ {
		line, tooLong, err := readLine(r, maxImportLine)
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("user import: reading standard input: %w", err)
		}
		if errors.Is(err, io.EOF) && len(line) == 0 && !tooLong {
			break
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 && !tooLong {
			continue
		}
		u, reason, fatal := importLine(ctx, p.auth, line, tooLong, *verified)
		switch {
		case fatal != nil:
			fmt.Fprintf(env.Stdout, "line %d: not imported: %s\n", n, oneLine(fatal))
			fmt.Fprintf(env.Stdout, "stopped at line %d: imported %d user(s), rejected %d line(s)\n", n, imported, rejected)
			return fatal
		case reason != "":
			rejected++
			fmt.Fprintf(env.Stdout, "line %d: rejected: %s\n", n, reason)
		default:
			imported++
			fmt.Fprintf(env.Stdout, "line %d: imported %s (id %s)\n", n, u.Email, u.ID)
		}
	}
	fmt.Fprintf(env.Stdout, "imported %d user(s), rejected %d line(s)\n", imported, rejected)
	if rejected > 0 {
		return fmt.Errorf("user import: %d line(s) rejected", rejected)
	}
	return nil
}

// importLine imports one line. reason says why the line was rejected;
// fatal is a failure that is not the line's fault.
func importLine(ctx context.Context, svc *auth.Service, line []byte, tooLong, verified bool) (u auth.User, reason string, fatal error) {
	if tooLong {
		return u, fmt.Sprintf("longer than %d bytes", maxImportLine), nil
	}
	var rec importRecord
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rec); err != nil {
		return u, "malformed JSON: " + err.Error(), nil
	}
	if dec.More() {
		return u, "malformed JSON: more than one value on the line", nil
	}
	switch {
	case rec.Email == nil:
		return u, "email is required", nil
	case rec.PasswordHash == nil:
		return u, "password_hash is required", nil
	}
	enabled := rec.Enabled == nil || *rec.Enabled
	u, err := svc.ImportUser(ctx, auth.ImportedUser{
		Email: *rec.Email, PasswordHash: *rec.PasswordHash,
		DefaultRole: rec.DefaultRole, AllowedRoles: rec.AllowedRoles, Enabled: enabled, EmailVerified: verified,
	})
	switch auth.CodeOf(err) {
	case auth.CodeBadUserInput, auth.CodeEmailTaken:
		return u, oneLine(err), nil
	}
	return u, "", err
}

// readLine reads one line of at most max bytes (without its newline);
// tooLong reports a longer one, whose rest is skipped.
func readLine(r *bufio.Reader, max int) (line []byte, tooLong bool, err error) {
	for {
		chunk, isPrefix, err := r.ReadLine()
		if !tooLong {
			line = append(line, chunk...)
			if len(line) > max {
				line, tooLong = nil, true
			}
		}
		if err != nil || !isPrefix {
			return line, tooLong, err
		}
	}
}
