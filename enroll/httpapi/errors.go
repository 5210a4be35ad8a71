package httpapi

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"denwa/enroll"
)

// HTTPError is what a handler returns to answer with an error: the HTTP
// status, a stable code for programs, a message for people in Japanese
// and English, and the cause, which is logged and never sent.
//
// A handler may also return any other error; it is answered as 500
// internal_error with the error logged (see errorOf for the domain
// errors of package enroll, which map to their own codes).
type HTTPError struct {
	Code    int    // HTTP status
	ErrCode string // stable error code, one of the Code* constants or a PhoneErr* code
	Msg     string // message for the user, in Japanese
	MsgEN   string // the same in English
	Err     error  // the cause: logged, never sent
	// RetryAfter, when positive, is sent as the Retry-After header (in
	// whole seconds, rounded up).
	RetryAfter time.Duration
}

func (e *HTTPError) Error() string {
	s := "httpapi: " + strconv.Itoa(e.Code) + " " + e.ErrCode
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause.
func (e *HTTPError) Unwrap() error { return e.Err }

// The stable error codes of the API. They never change meaning; the
// phone-number codes of package enroll (enroll.PhoneErr*) are sent as
// they are, with status 422.
const (
	CodeUnauthorized         = "unauthorized"           // 401: no, malformed, unknown or revoked API key
	CodeLinkInvalid          = "link_invalid"           // 401: a link token that is malformed or not ours
	CodeForbidden            = "forbidden"              // 403: a link used for another enrollment, or where only API keys may act
	CodeInsufficientScope    = "insufficient_scope"     // 403: the API key lacks the route's scope (admin, enroll, check)
	CodeNumberBlocked        = "number_blocked"         // 403: the number is blocked (fraud report or operator)
	CodeNotFound             = "not_found"              // 404
	CodeMethodNotAllowed     = "method_not_allowed"     // 405
	CodeInvalidID            = "invalid_id"             // 400: a path ID of the wrong form
	CodeMalformedJSON        = "malformed_json"         // 400
	CodeUnknownField         = "unknown_field"          // 400: a JSON field the endpoint does not take
	CodeInvalidField         = "invalid_field"          // 422: a field missing or out of range
	CodeBodyTooLarge         = "body_too_large"         // 413
	CodeUnsupportedMediaType = "unsupported_media_type" // 415: not application/json
	CodeAlreadyCalling       = "already_calling"        // 409: a call is in progress or another request started it
	CodeInvalidState         = "invalid_state"          // 409: the enrollment's state does not allow it
	CodeNotVerified          = "not_verified"           // 409: an app password needs a verified enrollment
	CodeEnrollmentMismatch   = "enrollment_mismatch"    // 422: the enrollment belongs to another user
	CodeAppPasswordLimit     = "app_password_limit"     // 409: 40 active app passwords already
	CodeEnrollmentExpired    = "enrollment_expired"     // 410
	CodeLinkUsed             = "link_used"              // 410
	CodeLinkExpired          = "link_expired"           // 410
	CodeRateLimited          = "rate_limited"           // 429, with Retry-After
	CodeUnavailable          = "unavailable"            // 503: shutting down, or the store is unreachable
	CodeInternal             = "internal_error"         // 500
	CodeInvalidQuery         = "invalid_query"          // 400: an admin list's query parameter is unknown or has a bad value (the message says which)
	CodeNameTaken            = "name_taken"             // 409: an API key of that name exists
	CodeNotDead              = "not_dead"               // 409: only a dead webhook message is redelivered
)

// errorCodes lists every code the API sends, the phone codes included;
// the OpenAPI document lists the same (checked by a test).
var errorCodes = []string{
	CodeUnauthorized, CodeLinkInvalid, CodeForbidden, CodeInsufficientScope, CodeNumberBlocked, CodeNotFound,
	CodeMethodNotAllowed, CodeInvalidID, CodeMalformedJSON, CodeUnknownField, CodeInvalidField,
	CodeBodyTooLarge, CodeUnsupportedMediaType, CodeAlreadyCalling, CodeInvalidState,
	CodeNotVerified, CodeEnrollmentMismatch, CodeAppPasswordLimit, CodeEnrollmentExpired,
	CodeLinkUsed, CodeLinkExpired, CodeRateLimited, CodeUnavailable, CodeInternal,
	CodeInvalidQuery, CodeNameTaken, CodeNotDead,

	enroll.PhoneErrEmpty, enroll.PhoneErrTooLong, enroll.PhoneErrInvalidCharacter,
	enroll.PhoneErrInvalidCountry, enroll.PhoneErrInvalidNumber, enroll.PhoneErrTooShort,
	enroll.PhoneErrEmergency, enroll.PhoneErrCountryNotAllowed, enroll.PhoneErrPremiumRate,
	enroll.PhoneErrTollFree, enroll.PhoneErrSharedCost, enroll.PhoneErrTypeNotAllowed,
}

// messages holds the Japanese and English message of each code.
var messages = map[string][2]string{
	CodeUnauthorized:         {"API キーがないか、正しくありません。", "The API key is missing or not valid."},
	CodeLinkInvalid:          {"リンクが正しくありません。", "The link is not valid."},
	CodeForbidden:            {"この操作は許可されていません。", "This operation is not allowed."},
	CodeInsufficientScope:    {"この API キーには、この操作に必要な権限がありません。", "This API key does not have the scope this operation needs."},
	CodeNumberBlocked:        {"この電話番号は利用できません。", "This phone number cannot be used."},
	CodeNotFound:             {"見つかりません。", "Not found."},
	CodeMethodNotAllowed:     {"このメソッドは使えません。", "Method not allowed."},
	CodeInvalidID:            {"ID の形式が正しくありません。", "The ID is not in the expected form."},
	CodeMalformedJSON:        {"リクエストの JSON が正しくありません。", "The request body is not valid JSON."},
	CodeUnknownField:         {"リクエストに不明な項目があります。", "The request has a field this endpoint does not take."},
	CodeInvalidField:         {"リクエストの項目が正しくありません。", "A request field is missing or not valid."},
	CodeBodyTooLarge:         {"リクエストが大きすぎます。", "The request body is too large."},
	CodeUnsupportedMediaType: {"Content-Type は application/json にしてください。", "The Content-Type must be application/json."},
	CodeAlreadyCalling:       {"すでに電話をかけています。", "A call is already in progress."},
	CodeInvalidState:         {"現在の状態ではこの操作はできません。", "The enrollment's state does not allow this."},
	CodeNotVerified:          {"電話による確認がまだ終わっていません。", "The phone has not been verified yet."},
	CodeEnrollmentMismatch:   {"この登録は別のユーザーのものです。", "The enrollment belongs to another user."},
	CodeAppPasswordLimit:     {"アプリ パスワードの数が上限に達しています。不要なものを削除してください。", "The limit of app passwords is reached. Revoke one you no longer use."},
	CodeEnrollmentExpired:    {"有効期限が切れました。最初からやり直してください。", "The enrollment has expired. Please start again."},
	CodeLinkUsed:             {"このリンクはすでに使われています。", "This link has already been used."},
	CodeLinkExpired:          {"リンクの有効期限が切れました。", "This link has expired."},
	CodeRateLimited:          {"回数の上限に達しました。しばらくしてからお試しください。", "Too many requests. Please try again later."},
	CodeUnavailable:          {"ただいまサービスを利用できません。しばらくしてからお試しください。", "The service is unavailable. Please try again later."},
	CodeInternal:             {"内部エラーが発生しました。", "An internal error occurred."},
	CodeInvalidQuery:         {"検索条件が正しくありません。", "The query is not valid."},
	CodeNameTaken:            {"その名前の API キーはすでにあります。", "An API key of that name exists."},
	CodeNotDead:              {"配信を諦めた Webhook だけを再送できます。", "Only a webhook that was given up can be redelivered."},
}

// apiError returns the HTTPError for code with its standard messages.
func apiError(status int, code string, cause error) *HTTPError {
	m := messages[code]
	return &HTTPError{Code: status, ErrCode: code, Msg: m[0], MsgEN: m[1], Err: cause}
}

// errorOf turns any error a handler returns into an HTTPError: an
// HTTPError as it is, a *enroll.PhoneError as 422 with its code and
// messages, and the domain errors of package enroll as their codes.
func errorOf(err error) *HTTPError {
	var he *HTTPError
	if errors.As(err, &he) {
		return he
	}
	var pe *enroll.PhoneError
	if errors.As(err, &pe) {
		return &HTTPError{Code: http.StatusUnprocessableEntity, ErrCode: pe.Code, Msg: pe.MessageJA, MsgEN: pe.MessageEN, Err: err}
	}
	var le *enroll.LimitError
	if errors.As(err, &le) {
		e := apiError(http.StatusTooManyRequests, CodeRateLimited, err)
		e.RetryAfter = le.RetryAfter
		return e
	}
	switch {
	case errors.Is(err, enroll.ErrNotFound):
		return apiError(http.StatusNotFound, CodeNotFound, err)
	case errors.Is(err, enroll.ErrConflict):
		return apiError(http.StatusConflict, CodeAlreadyCalling, err)
	case errors.Is(err, enroll.ErrInvalidTransition):
		return apiError(http.StatusConflict, CodeInvalidState, err)
	case errors.Is(err, enroll.ErrExpired):
		return apiError(http.StatusGone, CodeEnrollmentExpired, err)
	case errors.Is(err, enroll.ErrBlocked):
		return apiError(http.StatusForbidden, CodeNumberBlocked, err)
	case errors.Is(err, enroll.ErrTokenUsed):
		return apiError(http.StatusGone, CodeLinkUsed, err)
	case errors.Is(err, enroll.ErrLimit):
		return apiError(http.StatusConflict, CodeAppPasswordLimit, err)
	case errors.Is(err, enroll.ErrInvalidInput):
		return apiError(http.StatusUnprocessableEntity, CodeInvalidField, err)
	case errors.Is(err, enroll.ErrClosed):
		return apiError(http.StatusServiceUnavailable, CodeUnavailable, err)
	}
	return apiError(http.StatusInternalServerError, CodeInternal, err)
}

// errorBody is the JSON of every error response:
//
//	{"error":{"code":"stable_code","message":"…","message_en":"…"}}
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	MessageEN string `json:"message_en"`
}

// retryAfterSeconds rounds d up to whole seconds, at least 1.
func retryAfterSeconds(d time.Duration) string {
	s := math.Ceil(d.Seconds())
	if s < 1 {
		s = 1
	}
	return fmt.Sprintf("%d", int64(s))
}
