// Package silae is the Silae payroll connector (docs/connectors.md,
// "Silae"): on the 1st of each month (the connectors-monthly job) and on
// "run now", it exports the previous month's validated pointages as
// Silae's payroll variables XML, each pointage type (normal, nuit,
// weekend…) mapped to a Silae variable code by configuration, and PUTs it
// to the configured endpoint under the company code. A PUT replaces the
// company's variables for that month, so a re-run replaces and never
// duplicates.
//
// Silae's API is not public in detail: what this connector assumes
// (request shape, authentication, error answers) is stated in
// docs/connectors.md, "Silae: what we assume", and implemented by the
// stand-in integration/standins/silae.
package silae

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/hubchantier/hubgate/upstream/connectors"
	"github.com/hubchantier/hubgate/upstream/events"
)

// Type is the Silae connector type. Configuration:
//
//	api_url       the Silae API base (https; required: no public default)
//	api_key       the API key, sent as "Authorization: Bearer" (secret)
//	company_code  the Silae company (dossier) code
//	codes         {"normal": "HN", "nuit": "HNUIT", "weekend": "HWE"}: the
//	              Silae variable code of each pointage type
//	matricules    optional {"<user id>": "<matricule>"}; default: the
//	              Hub Chantier user id
var Type = connectors.Type{
	Name:    "silae",
	Secrets: []string{"api_key"},
	Jobs:    []string{connectors.JobMonthly, connectors.JobManual},
	// Assumed: a few requests per second; one export is one request.
	Rate:     rate.Limit(1),
	Burst:    2,
	Validate: connectors.ValidateWith(parse),
	New: connectors.NewWith(parse, func(c *Connector, env connectors.Env) error {
		c.env = env
		return nil
	}),
}

// Connector exports to one Silae company.
type Connector struct {
	apiURL, apiKey, company string
	codes                   map[string]string
	matricules              map[string]string
	env                     connectors.Env
}

var (
	codeRe      = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,32}$`)
	pointageRe  = regexp.MustCompile(`^[a-z_]{1,32}$`)
	userIDRe    = regexp.MustCompile(`^[0-9]{1,19}$`)
	knownFields = "api_url, api_key, company_code, codes, matricules"
)

func parse(cfg map[string]any, env connectors.Env) (*Connector, error) {
	c := &Connector{codes: map[string]string{}, matricules: map[string]string{}}
	for k, v := range cfg {
		switch k {
		case "api_url", "api_key", "company_code":
			if _, ok := v.(string); !ok {
				return nil, fmt.Errorf("%s must be a string", k)
			}
		case "codes", "matricules":
			m, ok := v.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%s must be an object", k)
			}
			for mk, mv := range m {
				s, ok := mv.(string)
				if !ok || !codeRe.MatchString(s) {
					return nil, fmt.Errorf("%s.%s must be 1 to 32 letters, digits, '_', '.' or '-'", k, mk)
				}
				if k == "codes" {
					if !pointageRe.MatchString(mk) {
						return nil, fmt.Errorf("codes: %q is not a pointage type", mk)
					}
					c.codes[mk] = s
				} else {
					if !userIDRe.MatchString(mk) {
						return nil, fmt.Errorf("matricules: %q is not a user id", mk)
					}
					c.matricules[mk] = s
				}
			}
		default:
			return nil, fmt.Errorf("unknown field %q (%s)", k, knownFields)
		}
	}
	c.apiURL, c.apiKey, c.company = connectors.String(cfg, "api_url"), connectors.String(cfg, "api_key"), connectors.String(cfg, "company_code")
	switch {
	case c.apiURL == "":
		return nil, errors.New("api_url is required")
	case c.apiKey == "":
		return nil, errors.New("api_key is required")
	case !codeRe.MatchString(c.company):
		return nil, errors.New("company_code is required: 1 to 32 letters, digits, '_', '.' or '-'")
	case len(c.codes) == 0:
		return nil, errors.New(`codes is required: the Silae code of each pointage type, e.g. {"normal": "HN", "nuit": "HNUIT", "weekend": "HWE"}`)
	}
	if err := connectors.CheckURL("api_url", c.apiURL, env); err != nil {
		return nil, err
	}
	c.apiURL = strings.TrimRight(c.apiURL, "/")
	return c, nil
}

// Document is Silae's payroll variables import (assumed shape):
//
//	<VariablesPaie societe="HUB01" periode="2025-03" source="hubchantier">
//	  <Salarie matricule="42">
//	    <Variable code="HN" date="2025-03-03" valeur="7.5"/>
//	  </Salarie>
//	</VariablesPaie>
type Document struct {
	XMLName   xml.Name   `xml:"VariablesPaie"`
	Company   string     `xml:"societe,attr"`
	Period    string     `xml:"periode,attr"`
	Source    string     `xml:"source,attr"`
	Employees []Employee `xml:"Salarie"`
}

// Employee is one employee's variables.
type Employee struct {
	Matricule string     `xml:"matricule,attr"`
	Variables []Variable `xml:"Variable"`
}

// Variable is the hours of one pointage type on one day (pointages of the
// same employee, day and type are summed).
type Variable struct {
	Code  string `xml:"code,attr"`
	Date  string `xml:"date,attr"`
	Value string `xml:"valeur,attr"`
}

// Month is the month a run exports: the month before the monthly job's
// period ("2025-04" exports March), or before run.Now for a manual run.
func Month(run connectors.Run) time.Time {
	if run.Job == connectors.JobMonthly {
		if t, err := time.Parse("2006-01", run.Key); err == nil {
			return t.AddDate(0, -1, 0)
		}
	}
	n := run.Now.UTC()
	return time.Date(n.Year(), n.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, -1, 0)
}

// Build reads the validated pointages of month and returns the document,
// the number of lines in it, and the lines left out because their
// pointage type has no configured code (by type).
func (c *Connector) Build(ctx context.Context, month time.Time) (Document, int, map[string]int, error) {
	from, to := month.Format("2006-01-02"), month.AddDate(0, 1, 0).Format("2006-01-02")
	rows, err := c.env.DB.Query(ctx, `SELECT user_id, date, type, SUM(heures) FROM pointages
		WHERE valide = TRUE AND date >= ? AND date < ? GROUP BY user_id, date, type ORDER BY user_id, date, type`, from, to)
	if err != nil {
		return Document{}, 0, nil, fmt.Errorf("silae export: %w", err)
	}
	defer rows.Close()
	doc := Document{Company: c.company, Period: month.Format("2006-01"), Source: "hubchantier"}
	byUser := map[string]*Employee{}
	var order []string
	lines, missing := 0, map[string]int{}
	for rows.Next() {
		var uid int64
		var date, typ string
		var h float64
		if err := rows.Scan(&uid, &date, &typ, &h); err != nil {
			return Document{}, 0, nil, err
		}
		code, ok := c.codes[typ]
		if !ok {
			missing[typ]++
			continue
		}
		u := strconv.FormatInt(uid, 10)
		e := byUser[u]
		if e == nil {
			m := c.matricules[u]
			if m == "" {
				m = u
			}
			e = &Employee{Matricule: m}
			byUser[u] = e
			order = append(order, u)
		}
		e.Variables = append(e.Variables, Variable{Code: code, Date: date, Value: strconv.FormatFloat(h, 'f', -1, 64)})
		lines++
	}
	if err := rows.Err(); err != nil {
		return Document{}, 0, nil, err
	}
	for _, u := range order {
		doc.Employees = append(doc.Employees, *byUser[u])
	}
	return doc, lines, missing, nil
}

// Sync implements connectors.Connector: the monthly job and "run now"
// export the previous month. Lines Silae rejects, or whose pointage type
// has no code, are counted as failed and reported (a permanent error: a
// retry would not fix them; fix the configuration and run again — the
// month is replaced).
func (c *Connector) Sync(ctx context.Context, run connectors.Run) (connectors.Result, error) {
	if run.Job != connectors.JobMonthly && run.Job != connectors.JobManual {
		return connectors.Result{}, nil
	}
	month := Month(run)
	doc, lines, missing, err := c.Build(ctx, month)
	if err != nil {
		return connectors.Result{}, err
	}
	body, err := xml.MarshalIndent(doc, "", "  ")
	if err != nil {
		return connectors.Result{}, err
	}
	body = append([]byte(xml.Header), body...)
	status, resp, hdr, err := c.do(ctx, http.MethodPut, "/companies/"+url.PathEscape(c.company)+"/variables/"+doc.Period, body)
	if err != nil {
		return connectors.Result{Failed: lines}, err
	}
	if err := c.refusal(status, resp, hdr); err != nil {
		return connectors.Result{Failed: lines}, err
	}
	var ans struct {
		Imported int `json:"imported"`
		Rejected []struct {
			Matricule string `json:"matricule"`
			Code      string `json:"code"`
			Date      string `json:"date"`
			Reason    string `json:"reason"`
		} `json:"rejected"`
	}
	if err := json.Unmarshal(resp, &ans); err != nil {
		return connectors.Result{Failed: lines}, fmt.Errorf("silae: answered %d without the expected JSON", status)
	}
	res := connectors.Result{Sent: ans.Imported, Failed: len(ans.Rejected)}
	var problems []string
	if len(missing) > 0 {
		types := make([]string, 0, len(missing))
		for t, n := range missing {
			types = append(types, t)
			res.Failed += n
		}
		sort.Strings(types)
		problems = append(problems, "no Silae code for pointage type "+strings.Join(types, ", "))
	}
	if len(ans.Rejected) > 0 {
		var r []string
		for i, x := range ans.Rejected {
			if i == 5 {
				r = append(r, fmt.Sprintf("… %d more", len(ans.Rejected)-5))
				break
			}
			r = append(r, code([]byte(x.Matricule+" "+x.Code+" "+x.Date+": "+x.Reason)))
		}
		problems = append(problems, fmt.Sprintf("Silae rejected %d lines (%s)", len(ans.Rejected), strings.Join(r, "; ")))
	}
	if len(problems) > 0 {
		return res, connectors.Permanent("silae %s %s: %d lines imported, %d failed: %s",
			c.company, doc.Period, res.Sent, res.Failed, strings.Join(problems, "; "))
	}
	return res, nil
}

// refusal maps a non-2xx answer: 429 with Retry-After (honoured), 5xx
// (retried), anything else permanent with Silae's short error code.
func (c *Connector) refusal(status int, body []byte, hdr http.Header) error {
	switch {
	case status >= 200 && status < 300:
		return nil
	case status == http.StatusTooManyRequests || (status == http.StatusServiceUnavailable && hdr.Get("Retry-After") != ""):
		return &connectors.RetryAfterError{After: connectors.ParseRetryAfter(hdr.Get("Retry-After"), c.env.Now(), 30*time.Second, time.Hour),
			Msg: fmt.Sprintf("silae: rate limited (%d)", status)}
	case status >= 500:
		return fmt.Errorf("silae: answered %d", status)
	}
	var e struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(body, &e)
	return connectors.Permanent("silae: answered %d %s", status, code([]byte(e.Error)))
}

// Test implements connectors.Connector: GET the company, which checks the
// key and the company code without changing anything.
func (c *Connector) Test(ctx context.Context) error {
	status, body, hdr, err := c.do(ctx, http.MethodGet, "/companies/"+url.PathEscape(c.company), nil)
	if err != nil {
		return err
	}
	return c.refusal(status, body, hdr)
}

// HandleEvent implements connectors.Connector: Silae takes no events.
func (c *Connector) HandleEvent(context.Context, events.Stored) error { return nil }

func (c *Connector) do(ctx context.Context, method, path string, body []byte) (int, []byte, http.Header, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.apiURL+path, rd)
	if err != nil {
		return 0, nil, nil, errors.New("silae: bad URL")
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/xml; charset=utf-8")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.apiKey)
	resp, err := c.env.HTTP.Do(req)
	if err != nil {
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) && ue.Unwrap() != nil {
			err = ue.Unwrap()
		}
		return 0, nil, nil, fmt.Errorf("silae: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 256<<10))
	return resp.StatusCode, b, resp.Header, nil
}

// code is a short, printable vendor error text (never a payload).
func code(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 80 {
		s = s[:80]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return -1
		}
		return r
	}, s)
}

var _ connectors.Connector = (*Connector)(nil)
