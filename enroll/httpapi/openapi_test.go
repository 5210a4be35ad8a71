package httpapi

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The served OpenAPI document describes exactly the routes the server
// has (methods and paths, both ways), each route is really served by the
// mux, and the error codes documented are exactly those the package
// sends, every Code* constant among them.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	r := h.do("GET", "/v1/openapi.json", "", nil)
	want(t, r, 200, "")
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
		Comps   struct {
			Schemas map[string]json.RawMessage `json:"schemas"`
		} `json:"components"`
	}
	r.decode(t, &doc)
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi %q", doc.OpenAPI)
	}

	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			documented[strings.ToUpper(method)+" "+path] = true
		}
	}
	routed := map[string]bool{}
	for _, rt := range h.srv.routes {
		routed[rt.method+" "+rt.path] = true
	}
	for k := range routed {
		if !documented[k] {
			t.Errorf("route %s is not in the OpenAPI document", k)
		}
	}
	for k := range documented {
		if !routed[k] {
			t.Errorf("the OpenAPI document has %s, which is not routed", k)
		}
	}

	// Each route is reached through the mux: the access log names the
	// route pattern it matched ("unmatched" for the catch-all).
	for _, rt := range h.srv.routes {
		if rt.path == "/v1/enrollments/{id}/stream" {
			continue // would stream; the stream tests reach it
		}
		path := strings.NewReplacer("{id}", "AAAAAAAAAAAAAAAAAAAAAA", "{user}", "u-1").Replace(rt.path)
		resp := h.do(rt.method, path, h.key, nil, "X-Request-ID", "route-check-"+strconv.Itoa(len(path)))
		if resp.StatusCode == 405 {
			t.Errorf("%s %s: 405", rt.method, path)
		}
		if !strings.Contains(h.logs.String(), `route="`+rt.method+" "+rt.path+`"`) {
			t.Errorf("%s %s did not reach route %s %s", rt.method, path, rt.method, rt.path)
		}
	}

	// Error codes: the enum of the Error schema, the x-error-codes of
	// every response, errorCodes and the Code* constants agree.
	var errSchema struct {
		Properties struct {
			Error struct {
				Properties struct {
					Code struct {
						Enum []string `json:"enum"`
					} `json:"code"`
				} `json:"properties"`
			} `json:"error"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(doc.Comps.Schemas["Error"], &errSchema); err != nil {
		t.Fatal(err)
	}
	enum := errSchema.Properties.Error.Properties.Code.Enum
	if !sameSet(enum, errorCodes) {
		t.Errorf("Error.code enum %v\n!= errorCodes %v", enum, errorCodes)
	}
	var used []string
	for path, ops := range doc.Paths {
		for method, raw := range ops {
			var op struct {
				Responses map[string]struct {
					Codes []string `json:"x-error-codes"`
				} `json:"responses"`
			}
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatal(err)
			}
			for status, resp := range op.Responses {
				n, _ := strconv.Atoi(status)
				if n >= 400 && len(resp.Codes) == 0 {
					t.Errorf("%s %s %s lists no error codes", method, path, status)
				}
				for _, c := range resp.Codes {
					if !slices.Contains(errorCodes, c) {
						t.Errorf("%s %s %s documents unknown code %q", method, path, status, c)
					}
					used = append(used, c)
				}
			}
		}
	}
	for _, c := range errorCodes {
		if !slices.Contains(used, c) {
			t.Errorf("code %q is documented on no response", c)
		}
	}
	for name, val := range codeConstants(t) {
		if !slices.Contains(errorCodes, val) {
			t.Errorf("constant %s = %q is not in errorCodes", name, val)
		}
		if _, ok := messages[val]; !ok {
			t.Errorf("constant %s = %q has no messages", name, val)
		}
	}
}

// Each code is documented with one status, so that clients can rely on
// the pair.
func TestOpenAPIOneStatusPerCode(t *testing.T) {
	doc := openAPIDocument()
	statusOf := map[string]map[string]bool{}
	for _, ops := range doc["paths"].(obj) {
		for _, op := range ops.(obj) {
			for status, resp := range op.(obj)["responses"].(obj) {
				if codes, ok := resp.(obj)["x-error-codes"].([]string); ok {
					for _, c := range codes {
						if statusOf[c] == nil {
							statusOf[c] = map[string]bool{}
						}
						statusOf[c][status] = true
					}
				}
			}
		}
	}
	for _, code := range errorCodes {
		if len(statusOf[code]) != 1 {
			t.Errorf("code %q is documented with statuses %v; want exactly one", code, statusOf[code])
		}
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

// codeConstants parses errors.go for its Code* constants.
func codeConstants(t *testing.T) map[string]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "errors.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, n := range vs.Names {
				if !strings.HasPrefix(n.Name, "Code") || i >= len(vs.Values) {
					continue
				}
				if lit, ok := vs.Values[i].(*ast.BasicLit); ok {
					out[n.Name], _ = strconv.Unquote(lit.Value)
				}
			}
		}
	}
	if len(out) < 20 {
		t.Fatalf("found only %d Code constants", len(out))
	}
	return out
}
