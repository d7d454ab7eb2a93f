package webhooks

import (
	"context"
	"errors"

	"github.com/hubchantier/hubgate/upstream/events"
)

// The owner-scoped operations below are the API's rules for a caller that
// authenticated the user itself (the developer console, docs/console.md):
// the same validation, limits, secret handling and delivery log as
// /api/v1/webhooks, on the webhooks of one user only. Permission checks
// (authz.Webhooks) stay with the caller, as the API's handlers do them.

// Errors of the owner-scoped operations.
var (
	// ErrNotFound: no webhook with that id belongs to the user.
	ErrNotFound = errNotFound
	// ErrTooMany: the user already holds MaxPerUser webhooks.
	ErrTooMany = errTooMany
	// ErrConflict: the webhook changed between its read and the write.
	ErrConflict = errConflict
	// ErrNoDelivery: no delivery with that id belongs to the webhook.
	ErrNoDelivery = events.ErrNoDelivery
)

// InvalidFields returns the field → message pairs of a validation error
// (ok false for any other error), in the order the fields were checked.
func InvalidFields(err error) (fields [][2]string, ok bool) {
	var fe fieldErrors
	if !errors.As(err, &fe) {
		return nil, false
	}
	for _, f := range fe {
		fields = append(fields, [2]string{f.Field, f.Message})
	}
	return fields, true
}

// ListOwn returns the webhooks of userID, newest first.
func (s *Service) ListOwn(ctx context.Context, userID int64) ([]Webhook, error) {
	return s.list(ctx, userID)
}

// Own returns webhook id when it belongs to userID (ErrNotFound otherwise:
// another owner's id does not leak).
func (s *Service) Own(ctx context.Context, userID int64, id string) (Webhook, error) {
	w, err := s.get(ctx, id)
	if err == nil && w.UserID != userID {
		err = errNotFound
	}
	if err != nil {
		return Webhook{}, err
	}
	return w.view(s.opt.Now()), nil
}

// CreateOwn validates and stores a webhook for userID, as POST
// /api/v1/webhooks does; the answer holds the secret, this once.
func (s *Service) CreateOwn(ctx context.Context, userID int64, url, description string, patterns []string) (Webhook, error) {
	in := input{URL: &url, Events: &patterns, Description: &description}
	var hook Webhook
	if err := s.validate(ctx, in, &hook, true); err != nil {
		return Webhook{}, err
	}
	return s.create(ctx, userID, hook)
}

// RotateOwn gives userID's webhook id a new secret (returned, this once);
// the previous one keeps signing for the overlap.
func (s *Service) RotateOwn(ctx context.Context, userID int64, id string) (Webhook, error) {
	w, err := s.Own(ctx, userID, id)
	if err != nil {
		return Webhook{}, err
	}
	return s.rotate(ctx, w)
}

// DeleteOwn deletes userID's webhook id.
func (s *Service) DeleteOwn(ctx context.Context, userID int64, id string) error {
	if _, err := s.Own(ctx, userID, id); err != nil {
		return err
	}
	return s.remove(ctx, id)
}

// DeliveriesOwn returns the newest limit deliveries of userID's webhook id,
// starting below delivery before (0: from the newest).
func (s *Service) DeliveriesOwn(ctx context.Context, userID int64, id string, before int64, limit int) ([]events.DeliveryInfo, error) {
	if _, err := s.Own(ctx, userID, id); err != nil {
		return nil, err
	}
	return events.Deliveries(ctx, s.db, Kind, id, before, limit)
}

// RedeliverOwn queues delivery deliveryID of userID's webhook id again and
// returns the new delivery's id.
func (s *Service) RedeliverOwn(ctx context.Context, userID int64, id string, deliveryID int64) (int64, error) {
	if _, err := s.Own(ctx, userID, id); err != nil {
		return 0, err
	}
	return events.Redeliver(ctx, s.db, Kind, id, deliveryID, s.opt.Now())
}
