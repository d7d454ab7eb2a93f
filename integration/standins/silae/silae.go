// Package silae is a stand-in for Silae's payroll import, used by tests on
// loopback. Silae's API is not publicly documented in detail; this
// stand-in implements exactly what Hub Chantier ASSUMES of it
// (docs/connectors.md, "Silae: what we assume"), and nothing here is the
// connector (upstream/connectors/silae):
//
//   - authentication: "Authorization: Bearer <api key>"; a missing or
//     wrong key answers 401 {"error": "invalid_token"};
//   - GET /companies/{company}: 200 {"code": …, "name": …} for the one
//     company that exists, 404 {"error": "unknown_company"} otherwise (the
//     connector's "test connection");
//   - PUT /companies/{company}/variables/{YYYY-MM} with Content-Type
//     application/xml: the month's payroll variables as a <VariablesPaie>
//     document; it REPLACES whatever was imported for that company and
//     month (a PUT: idempotent by company + month). Answers 200
//     {"imported": n, "rejected": [{"matricule", "code", "date",
//     "reason"}]}: lines with an unknown employee (matricule) or an
//     unknown variable code are rejected, the others imported (partial
//     import); 400 {"error": "invalid_xml" | "period_mismatch" |
//     "company_mismatch"}; 404 unknown_company; 415 when not XML;
//   - rate limiting: 429 with Retry-After in seconds; 503 or 500 when
//     unavailable (retried by the client).
//
// Knobs make the next requests answer 429 or 500.
package silae

import (
	"encoding/json"
	"encoding/xml"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
)

// Document is the XML the stand-in accepts, parsed independently of the
// connector's own types.
type Document struct {
	XMLName   xml.Name   `xml:"VariablesPaie"`
	Company   string     `xml:"societe,attr"`
	Period    string     `xml:"periode,attr"`
	Employees []Employee `xml:"Salarie"`
}

// Employee is one <Salarie> and its variables.
type Employee struct {
	Matricule string     `xml:"matricule,attr"`
	Variables []Variable `xml:"Variable"`
}

// Variable is one <Variable code date valeur>.
type Variable struct {
	Code  string `xml:"code,attr"`
	Date  string `xml:"date,attr"`
	Value string `xml:"valeur,attr"`
}

// Server is a running stand-in.
type Server struct {
	*httptest.Server
	// APIKey is the one key accepted; Company the one company code.
	APIKey, Company string

	mu        sync.Mutex
	employees map[string]bool
	codes     map[string]bool
	imports   map[string]Document // by company + "/" + month
	raw       map[string][]byte
	puts      int
	throttle  int
	retry     string
	failures  int
	requests  []http.Header
}

// New starts a stand-in whose company knows employees (matricules) and
// variable codes; Close it at the end.
func New(employees, codes []string) *Server {
	s := &Server{APIKey: "silae-standin-key-7f3a", Company: "HUB01",
		employees: map[string]bool{}, codes: map[string]bool{}, imports: map[string]Document{}, raw: map[string][]byte{}}
	for _, e := range employees {
		s.employees[e] = true
	}
	for _, c := range codes {
		s.codes[c] = true
	}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// Throttle makes the next n requests answer 429 with Retry-After: retry.
func (s *Server) Throttle(n int, retry string) {
	s.mu.Lock()
	s.throttle, s.retry = n, retry
	s.mu.Unlock()
}

// Fail makes the next n requests answer 500.
func (s *Server) Fail(n int) {
	s.mu.Lock()
	s.failures = n
	s.mu.Unlock()
}

// Import returns what is imported for company and month (YYYY-MM).
func (s *Server) Import(company, month string) (Document, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.imports[company+"/"+month]
	return d, ok
}

// Raw returns the last XML body accepted for company and month.
func (s *Server) Raw(company, month string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte(nil), s.raw[company+"/"+month]...)
}

// Puts counts the PUT requests that reached the import (after the
// injected 429/500 answers).
func (s *Server) Puts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.puts
}

// Requests returns the headers of every request received.
func (s *Server) Requests() []http.Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]http.Header(nil), s.requests...)
}

func answer(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

var (
	companyPath  = regexp.MustCompile(`^/companies/([^/]+)$`)
	variablePath = regexp.MustCompile(`^/companies/([^/]+)/variables/(\d{4}-\d{2})$`)
)

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	s.mu.Lock()
	s.requests = append(s.requests, r.Header.Clone())
	switch {
	case s.throttle > 0:
		s.throttle--
		s.mu.Unlock()
		w.Header().Set("Retry-After", s.retry)
		answer(w, http.StatusTooManyRequests, map[string]string{"error": "rate_limited"})
		return
	case s.failures > 0:
		s.failures--
		s.mu.Unlock()
		answer(w, http.StatusInternalServerError, map[string]string{"error": "internal_error"})
		return
	}
	s.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer "+s.APIKey {
		answer(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token"})
		return
	}
	if m := companyPath.FindStringSubmatch(r.URL.Path); m != nil && r.Method == http.MethodGet {
		if m[1] != s.Company {
			answer(w, http.StatusNotFound, map[string]string{"error": "unknown_company"})
			return
		}
		answer(w, http.StatusOK, map[string]string{"code": s.Company, "name": "Stand-in BTP"})
		return
	}
	m := variablePath.FindStringSubmatch(r.URL.Path)
	if m == nil || r.Method != http.MethodPut {
		answer(w, http.StatusNotFound, map[string]string{"error": "not_found"})
		return
	}
	if m[1] != s.Company {
		answer(w, http.StatusNotFound, map[string]string{"error": "unknown_company"})
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/xml" {
		answer(w, http.StatusUnsupportedMediaType, map[string]string{"error": "unsupported_media_type"})
		return
	}
	var doc Document
	if err := xml.Unmarshal(body, &doc); err != nil {
		answer(w, http.StatusBadRequest, map[string]string{"error": "invalid_xml"})
		return
	}
	if doc.Company != m[1] {
		answer(w, http.StatusBadRequest, map[string]string{"error": "company_mismatch"})
		return
	}
	if doc.Period != m[2] {
		answer(w, http.StatusBadRequest, map[string]string{"error": "period_mismatch"})
		return
	}
	type rejection struct {
		Matricule string `json:"matricule"`
		Code      string `json:"code"`
		Date      string `json:"date"`
		Reason    string `json:"reason"`
	}
	rejected := []rejection{}
	kept := Document{XMLName: doc.XMLName, Company: doc.Company, Period: doc.Period}
	imported := 0
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range doc.Employees {
		ke := Employee{Matricule: e.Matricule}
		for _, v := range e.Variables {
			switch {
			case !s.employees[e.Matricule]:
				rejected = append(rejected, rejection{e.Matricule, v.Code, v.Date, "unknown_employee"})
			case !s.codes[v.Code]:
				rejected = append(rejected, rejection{e.Matricule, v.Code, v.Date, "unknown_code"})
			case !strings.HasPrefix(v.Date, doc.Period+"-"):
				rejected = append(rejected, rejection{e.Matricule, v.Code, v.Date, "date_outside_period"})
			default:
				ke.Variables = append(ke.Variables, v)
				imported++
			}
		}
		if len(ke.Variables) > 0 {
			kept.Employees = append(kept.Employees, ke)
		}
	}
	s.puts++
	s.imports[m[1]+"/"+m[2]] = kept
	s.raw[m[1]+"/"+m[2]] = body
	answer(w, http.StatusOK, map[string]any{"imported": imported, "rejected": rejected})
}
