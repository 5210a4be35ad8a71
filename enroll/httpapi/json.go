package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"
)

// decodeJSON reads the request body, which must be one JSON object of
// the fields v takes (application/json, at most MaxBodyBytes, nothing
// after it), into v. Errors are *HTTPError: 415, 413, 400
// (malformed_json, unknown_field) or 422 (a field of the wrong type).
func decodeJSON(r *http.Request, v any) error {
	if err := checkContentType(r); err != nil {
		return err
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if err := dec.Decode(&struct{}{}); err != io.EOF {
		if err == nil {
			err = errors.New("more than one JSON value")
		}
		return jsonError(err)
	}
	return nil
}

// decodeOptionalJSON is decodeJSON for endpoints whose body may be left
// out: an empty body leaves v as it is.
func decodeOptionalJSON(r *http.Request, v any) error {
	if r.ContentLength == 0 {
		return nil
	}
	if r.ContentLength < 0 && r.Header.Get("Content-Type") == "" {
		// Unknown length, no type: read to see whether it is empty.
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return jsonError(err)
		}
		if len(strings.TrimSpace(string(b))) == 0 {
			return nil
		}
		return apiError(http.StatusUnsupportedMediaType, CodeUnsupportedMediaType, errors.New("no Content-Type"))
	}
	return decodeJSON(r, v)
}

func checkContentType(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return apiError(http.StatusUnsupportedMediaType, CodeUnsupportedMediaType, fmt.Errorf("Content-Type %.40q", ct))
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return apiError(http.StatusUnsupportedMediaType, CodeUnsupportedMediaType, fmt.Errorf("charset %.20q", cs))
	}
	return nil
}

func jsonError(err error) error {
	var mbe *http.MaxBytesError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &mbe):
		return apiError(http.StatusRequestEntityTooLarge, CodeBodyTooLarge, err)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return apiError(http.StatusBadRequest, CodeUnknownField, err)
	case errors.As(err, &te):
		return apiError(http.StatusUnprocessableEntity, CodeInvalidField, fmt.Errorf("field %s: %s instead of %s", te.Field, te.Value, te.Type))
	case errors.Is(err, io.EOF):
		return apiError(http.StatusBadRequest, CodeMalformedJSON, errors.New("empty body"))
	}
	return apiError(http.StatusBadRequest, CodeMalformedJSON, err)
}

// fieldError is a 422 invalid_field naming the field (in the logged
// cause only).
func fieldError(field, why string) error {
	return apiError(http.StatusUnprocessableEntity, CodeInvalidField, fmt.Errorf("field %s: %s", field, why))
}

// validID reports whether s has the form of enroll.NewID: 22 characters
// of unpadded URL-safe base64.
func validID(s string) bool {
	if len(s) != 22 {
		return false
	}
	for _, c := range []byte(s) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}

// validText reports whether s is 1 to max bytes of UTF-8 with no control
// characters.
func validText(s string, max int) bool {
	if s == "" || len(s) > max || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || (r >= 0x7f && r < 0xa0) || r == 0x2028 || r == 0x2029 {
			return false
		}
	}
	return true
}

// pathID returns the path value name after checking it has the form of
// an enroll ID (else 400 invalid_id).
func pathID(r *http.Request, name string) (string, error) {
	id := r.PathValue(name)
	if !validID(id) {
		return "", apiError(http.StatusBadRequest, CodeInvalidID, fmt.Errorf("path %s of the wrong form", name))
	}
	return id, nil
}

// pathUser returns the user ID of the path (1 to 256 bytes of printable
// UTF-8, else 400 invalid_id).
func pathUser(r *http.Request) (string, error) {
	u := r.PathValue("user")
	if !validText(u, maxUserIDLen) {
		return "", apiError(http.StatusBadRequest, CodeInvalidID, errors.New("path user of the wrong form"))
	}
	return u, nil
}
