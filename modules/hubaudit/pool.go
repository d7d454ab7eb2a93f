package hubaudit

import (
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
)

// journalPool shares one journal and shipper per directory across config
// reloads: in-flight requests of the old config and new ones of the next
// append to the same chain, and the shipper never stops.
var journalPool = caddy.NewUsagePool()

// pooled is a journal with its shipper.
type pooled struct {
	journal *Journal
	shipper *Shipper
}

// Destruct stops shipping and closes the journal (the last config using it
// is gone).
func (p *pooled) Destruct() error {
	p.shipper.Stop()
	return p.journal.Close()
}

// acquire opens or shares the journal of dir and points its shipper at
// sink (nil keeps the current one).
func acquire(dir string, segmentSize int64, batch int, interval time.Duration, sink *HTTPSink, m *metrics, log *zap.Logger) (*pooled, error) {
	v, _, err := journalPool.LoadOrNew(dir, func() (caddy.Destructor, error) {
		j, err := OpenJournal(dir, segmentSize, log)
		if err != nil {
			return nil, err
		}
		s := NewShipper(j, batch, interval, log)
		s.onError = m.shipErrors.Inc
		p := &pooled{journal: j, shipper: s}
		if sink != nil {
			s.SetSink(sink)
		}
		s.Start()
		log.Info("audit journal open", zap.String("dir", dir), zap.String("gateway_id", j.GatewayID()),
			zap.Int64("backlog", j.Backlog()))
		return p, nil
	})
	if err != nil {
		return nil, err
	}
	p := v.(*pooled)
	if sink != nil {
		p.shipper.SetSink(sink)
	}
	return p, nil
}

func release(dir string) error {
	_, err := journalPool.Delete(dir)
	return err
}
