// Package mail delivers authgate's mail: the outbox worker that claims
// sealed mails written by the service, renders them from templates (plain
// text and HTML, in the reader's language), sends them over SMTP (or keeps
// them in memory in development) and records each outcome, retrying
// temporary failures with back-off.
package mail
