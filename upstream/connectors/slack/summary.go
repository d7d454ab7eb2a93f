package slack

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hubchantier/hubgate/upstream/connectors"
)

// Sync implements connectors.Connector: the weekly job (and a manual run)
// posts the summary of the previous ISO week's pointages (Monday to
// Sunday) per chantier: hours recorded, hours validated.
func (c *Connector) Sync(ctx context.Context, run connectors.Run) (connectors.Result, error) {
	if run.Job != connectors.JobWeekly && run.Job != connectors.JobManual {
		return connectors.Result{}, nil
	}
	from, to := previousWeek(run.Now)
	m, err := c.summary(ctx, from, to)
	if err != nil {
		return connectors.Result{}, err
	}
	if err := c.post(ctx, m); err != nil {
		return connectors.Result{Failed: 1}, err
	}
	return connectors.Result{Sent: 1}, nil
}

// previousWeek is the Monday and the next Monday of the ISO week before
// now's (UTC dates, as pointages store them).
func previousWeek(now time.Time) (time.Time, time.Time) {
	d := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	wd := (int(d.Weekday()) + 6) % 7 // Monday = 0
	monday := d.AddDate(0, 0, -wd)
	return monday.AddDate(0, 0, -7), monday
}

func (c *Connector) summary(ctx context.Context, from, to time.Time) (Message, error) {
	rows, err := c.env.DB.Query(ctx, `SELECT c.nom, COUNT(*), SUM(p.heures),
		SUM(CASE WHEN p.valide THEN p.heures ELSE 0 END)
		FROM pointages p JOIN chantiers c ON c.id = p.chantier_id
		WHERE p.date >= ? AND p.date < ? GROUP BY c.id, c.nom ORDER BY c.nom`,
		from.Format("2006-01-02"), to.Format("2006-01-02"))
	if err != nil {
		return Message{}, fmt.Errorf("weekly summary: %w", err)
	}
	defer rows.Close()
	var lines []string
	var total, valid float64
	n := 0
	for rows.Next() {
		var nom string
		var count int
		var h, v float64
		if err := rows.Scan(&nom, &count, &h, &v); err != nil {
			return Message{}, err
		}
		lines = append(lines, fmt.Sprintf("• *%s* : %s h (%s h validées, %d pointages)", escape(nom), num(h), num(v), count))
		total, valid, n = total+h, valid+v, n+count
	}
	if err := rows.Err(); err != nil {
		return Message{}, err
	}
	week := fmt.Sprintf("semaine du %s au %s", from.Format("02/01/2006"), to.AddDate(0, 0, -1).Format("02/01/2006"))
	text := fmt.Sprintf("Pointages de la %s : %s h, dont %s h validées (%d pointages)", week, num(total), num(valid), n)
	body := "Aucun pointage."
	if len(lines) > 0 {
		body = strings.Join(lines, "\n")
	}
	return Message{Text: text, Blocks: []Block{
		{Type: "header", Text: &Text{Type: "plain_text", Text: "Pointages de la " + week}},
		{Type: "section", Text: md(body)},
		{Type: "context", Elements: []Text{*md(fmt.Sprintf("Total : %s h · validées : %s h", num(total), num(valid)))}},
	}}, nil
}

func num(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
