package auth

// Observer is told of outcomes worth counting (metrics); it must be cheap
// and safe for concurrent use.
type Observer interface {
	// Refreshed reports a refresh's outcome: rotated, replayed, reused,
	// dead, disabled or unknown.
	Refreshed(outcome string)
	// RevocationCheckedInDatabase reports a token or session checked
	// against the database because the in-memory revocation state was not
	// current (its feed down).
	RevocationCheckedInDatabase()
}

type noObserver struct{}

func (noObserver) Refreshed(string)             {}
func (noObserver) RevocationCheckedInDatabase() {}

// SetObserver makes o the service's observer. Call it before serving.
func (s *Service) SetObserver(o Observer) {
	if o != nil {
		s.observer = o
	}
}
