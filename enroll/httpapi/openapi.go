package httpapi

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"denwa/enroll"
)

// The OpenAPI 3.1 document of the API, written by hand as Go data below
// (not generated from the route table, so that the test comparing the
// two means something). openapi_test.go checks that every route is
// documented and every documented operation is routed, and that the
// error codes documented are exactly those the package sends.

type obj = map[string]any

func ref(name string) obj { return obj{"$ref": "#/components/schemas/" + name} }

// errResp documents an error status with the codes it may carry.
type errResp struct {
	status int
	codes  []string
}

var (
	e400id   = errResp{400, []string{CodeInvalidID}}
	e400body = errResp{400, []string{CodeMalformedJSON, CodeUnknownField}}
	e401     = errResp{401, []string{CodeUnauthorized}}
	e401link = errResp{401, []string{CodeUnauthorized, CodeLinkInvalid}}
	e403link = errResp{403, []string{CodeForbidden}}
	e404     = errResp{404, []string{CodeNotFound}}
	e405     = errResp{405, []string{CodeMethodNotAllowed}}
	e413     = errResp{413, []string{CodeBodyTooLarge}}
	e415     = errResp{415, []string{CodeUnsupportedMediaType}}
	e422     = errResp{422, []string{CodeInvalidField}}
	e500     = errResp{500, []string{CodeInternal}}
	e503     = errResp{503, []string{CodeUnavailable}}
	eBody    = []errResp{e400body, e413, e415, e422}
	eCommon  = []errResp{e405, e500, e503}
)

var phoneCodes = []string{
	enroll.PhoneErrEmpty, enroll.PhoneErrTooLong, enroll.PhoneErrInvalidCharacter,
	enroll.PhoneErrInvalidCountry, enroll.PhoneErrInvalidNumber, enroll.PhoneErrTooShort,
	enroll.PhoneErrEmergency, enroll.PhoneErrCountryNotAllowed, enroll.PhoneErrPremiumRate,
	enroll.PhoneErrTollFree, enroll.PhoneErrSharedCost, enroll.PhoneErrTypeNotAllowed,
}

// operation builds one operation object.
func operation(id, summary string, security []obj, params []obj, body obj, okStatus int, ok obj, errs ...[]errResp) obj {
	responses := obj{}
	if ok != nil {
		responses[strconv.Itoa(okStatus)] = ok
	}
	merged := map[int][]string{}
	var order []int
	for _, group := range errs {
		for _, e := range group {
			if _, seen := merged[e.status]; !seen {
				order = append(order, e.status)
			}
			merged[e.status] = append(merged[e.status], e.codes...)
		}
	}
	for _, st := range order {
		r := obj{
			"description":   http.StatusText(st),
			"x-error-codes": merged[st],
			"content":       obj{"application/json": obj{"schema": ref("Error")}},
		}
		if st == 429 {
			r["headers"] = obj{"Retry-After": obj{"description": "seconds until the limit's window ends", "schema": obj{"type": "integer"}}}
		}
		if st == 401 {
			r["headers"] = obj{"WWW-Authenticate": obj{"schema": obj{"type": "string"}}}
		}
		responses[strconv.Itoa(st)] = r
	}
	o := obj{"operationId": id, "summary": summary, "responses": responses}
	if security != nil {
		o["security"] = security
	}
	if len(params) > 0 {
		o["parameters"] = params
	}
	if body != nil {
		o["requestBody"] = obj{"required": true, "content": obj{"application/json": obj{"schema": body}}}
	}
	return o
}

func jsonResp(desc string, schema obj) obj {
	return obj{"description": desc, "content": obj{"application/json": obj{"schema": schema}}}
}

func pathParam(name, desc string) obj {
	return obj{"name": name, "in": "path", "required": true, "description": desc, "schema": obj{"type": "string"}}
}

var (
	secKey     = []obj{{"apiKey": []string{}}}
	secLink    = []obj{{"link": []string{}}}
	secKeyLink = []obj{{"apiKey": []string{}}, {"link": []string{}}}
	secNone    = []obj{}
	pID        = pathParam("id", "enrollment ID: 22 characters of URL-safe base64")
	pUser      = pathParam("user", "the organisation's user ID: 1 to 256 bytes")
	pAppPwID   = pathParam("id", "app password ID: 22 characters of URL-safe base64")
)

// secStream: the event stream alone takes the link in the query
// (EventSource cannot set headers).
var secStream = []obj{{"apiKey": []string{}}, {"link": []string{}}, {"linkQuery": []string{}}}

func str(desc string) obj { return obj{"type": "string", "description": desc} }

func strFmt(format string) obj { return obj{"type": "string", "format": format} }

func schemas() obj {
	states := []string{"pending", "calling", "verified", "completed", "failed", "expired"}
	outcomes := []string{"unknown", "verified", "no-answer", "busy", "rejected", "unreachable", "no-input", "wrong-input", "hung-up", "fraud-reported", "failed"}
	enrollment := obj{
		"type":     "object",
		"required": []string{"id", "user_id", "phone", "state", "final", "attempts", "max_attempts", "outcome", "created_at", "updated_at"},
		"properties": obj{
			"id": str("enrollment ID"), "user_id": str("the organisation's user ID"),
			"phone": str("E.164"), "phone_display": str("international format, for people"),
			"country":      str("ISO 3166-1 region of the number"),
			"state":        obj{"type": "string", "enum": states},
			"final":        obj{"type": "boolean", "description": "nothing more will happen: completed, expired, or failed with no retry left"},
			"attempts":     obj{"type": "integer"},
			"max_attempts": obj{"type": "integer"},
			"outcome":      obj{"type": "string", "enum": outcomes, "description": "of the last call"},
			"cause":        str("why the last call failed"),
			"key_source":   obj{"type": "string", "enum": []string{"rfc4733", "inband", "sip-info"}},
			"created_at":   strFmt("date-time"), "updated_at": strFmt("date-time"), "expires_at": strFmt("date-time"),
			"verified_at": strFmt("date-time"), "completed_at": strFmt("date-time"),
		},
	}
	appPw := obj{
		"type":     "object",
		"required": []string{"id", "user_id", "name", "created_at"},
		"properties": obj{
			"id": str("app password ID"), "user_id": str("owner"), "name": str("the user's label"),
			"created_at": strFmt("date-time"), "last_used_at": strFmt("date-time"), "revoked_at": strFmt("date-time"),
		},
	}
	issued := obj{"allOf": []obj{ref("AppPassword"), {
		"type":     "object",
		"required": []string{"password", "password_display", "enrollment_id"},
		"properties": obj{
			"password":         str("the 16 letters; shown once, never again"),
			"password_display": str("the same in four groups of four"),
			"enrollment_id":    str("the enrollment this issue completed"),
		},
	}}}
	out := obj{
		"Error": obj{
			"type": "object", "required": []string{"error"},
			"properties": obj{"error": obj{
				"type": "object", "required": []string{"code", "message", "message_en"},
				"properties": obj{
					"code":       obj{"type": "string", "enum": errorCodes},
					"message":    str("for the user, in Japanese"),
					"message_en": str("for the user, in English"),
				},
			}},
		},
		"Enrollment": enrollment,
		"Link": obj{
			"type": "object", "required": []string{"token", "expires_at"},
			"properties": obj{
				"token":      str("the one-time link token: send as Authorization: Bearer (?token= on the event stream only); refused everywhere once consumed (the claim, or the web UI's 続ける)"),
				"url":        str("the web UI's URL with the token in its fragment"),
				"expires_at": strFmt("date-time"),
			},
		},
		"CreateEnrollment": obj{
			"type": "object", "required": []string{"user_id", "phone"}, "additionalProperties": false,
			"properties": obj{
				"user_id":   obj{"type": "string", "minLength": 1, "maxLength": 256},
				"phone":     obj{"type": "string", "maxLength": enroll.MaxPhoneInputLen, "description": "as the user typed it: 03-1234-5678, 813-1234-5678, +81 3-1234-5678, …"},
				"country":   obj{"type": "string", "description": "ISO 3166-1 region the number was typed for; default JP"},
				"client_ip": obj{"type": "string", "description": "the user's IP address, for the per-IP call limit"},
			},
		},
		"CreatedEnrollment": obj{
			"type": "object", "required": []string{"enrollment", "link"},
			"properties": obj{"enrollment": ref("Enrollment"), "link": ref("Link")},
		},
		"AuditEvent": obj{
			"type": "object", "required": []string{"id", "at", "actor", "action", "from", "to", "outcome", "attempt"},
			"properties": obj{
				"id": str(""), "at": strFmt("date-time"), "actor": str("api-key:<name>, user-link or system"),
				"action":  obj{"type": "string", "enum": []string{enroll.ActionCreate, enroll.ActionCallStart, enroll.ActionCallEnd, enroll.ActionBlock, enroll.ActionComplete, enroll.ActionExpire, enroll.ActionRecover}},
				"from":    obj{"type": "string", "enum": append([]string{"unknown"}, states...)},
				"to":      obj{"type": "string", "enum": states},
				"outcome": obj{"type": "string", "enum": outcomes},
				"cause":   str(""), "key_source": str(""), "keys": str("the keys the call acted on"),
				"request_id": str("the X-Request-ID of the request that caused it"), "attempt": obj{"type": "integer"},
			},
		},
		"AuditEvents": obj{
			"type": "object", "required": []string{"events"},
			"properties": obj{"events": obj{"type": "array", "items": ref("AuditEvent")}},
		},
		"LinkInfo": obj{
			"type": "object", "required": []string{"enrollment", "expires_at"},
			"properties": obj{"enrollment": ref("Enrollment"), "expires_at": strFmt("date-time")},
		},
		"AppPassword":       appPw,
		"IssuedAppPassword": issued,
		"IssueAppPassword": obj{
			"type": "object", "required": []string{"name", "enrollment_id"}, "additionalProperties": false,
			"properties": obj{
				"name":          obj{"type": "string", "minLength": 1, "maxLength": maxAppPasswordNameLen},
				"enrollment_id": str("the user's verified enrollment; issuing completes it"),
			},
		},
		"ClaimAppPassword": obj{
			"type": "object", "additionalProperties": false,
			"properties": obj{"name": obj{"type": "string", "minLength": 1, "maxLength": maxAppPasswordNameLen, "default": "denwa"}},
		},
		"AppPasswords": obj{
			"type": "object", "required": []string{"app_passwords", "active", "max"},
			"properties": obj{
				"app_passwords": obj{"type": "array", "items": ref("AppPassword")},
				"active":        obj{"type": "integer"}, "max": obj{"type": "integer"},
			},
		},
		"CheckAppPassword": obj{
			"type": "object", "required": []string{"user", "password"}, "additionalProperties": false,
			"properties": obj{"user": obj{"type": "string"}, "password": obj{"type": "string", "maxLength": 256},
				"client_ip": obj{"type": "string", "description": "the address of the client that tried the password, for the per-address failure limits"}},
		},
		"CheckResult": obj{
			"type": "object", "required": []string{"valid"},
			"properties": obj{"valid": obj{"type": "boolean"}},
		},
		"Status": obj{"type": "object", "properties": obj{"status": obj{"type": "string"}}},

		"WebhookPayload": webhookPayload(states, outcomes),
	}
	for name, sc := range adminSchemas() {
		out[name] = sc
	}
	return out
}

func openAPIDocument() obj {
	paths := obj{
		"/healthz": obj{"get": operation("healthz", "Liveness", secNone, nil, nil, 200, jsonResp("alive", ref("Status")), eCommon)},
		"/readyz":  obj{"get": operation("readyz", "Readiness: the store answers", secNone, nil, nil, 200, jsonResp("ready", ref("Status")), eCommon)},
		"/v1/openapi.json": obj{"get": operation("openapi", "This document", secNone, nil, nil, 200,
			obj{"description": "OpenAPI 3.1", "content": obj{"application/json": obj{"schema": obj{"type": "object"}}}}, eCommon)},
		"/v1/enrollments": obj{"post": operation("createEnrollment",
			"Create an enrollment: the number is normalised and checked against the policy; returns a one-time link for the user",
			secKey, nil, ref("CreateEnrollment"), 201, jsonResp("created", ref("CreatedEnrollment")),
			eBody, []errResp{e401, {403, []string{CodeNumberBlocked}}, {422, append([]string{CodeInvalidField}, phoneCodes...)}}, eCommon)},
		"/v1/enrollments/{id}": obj{"get": operation("getEnrollment", "Read an enrollment's state",
			secKeyLink, []obj{pID}, nil, 200, jsonResp("the enrollment", ref("Enrollment")),
			[]errResp{e400id, e401link, e403link, e404, {410, []string{CodeLinkUsed, CodeLinkExpired}}}, eCommon)},
		"/v1/enrollments/{id}/call": obj{"post": operation("startCall",
			"Start the verification call (no body, or {}); of concurrent starts one gets 202, the others 409",
			secKeyLink, []obj{pID}, nil, 202, jsonResp("the call is being placed", ref("Enrollment")),
			eBody, []errResp{e400id, e401link, {403, []string{CodeForbidden, CodeNumberBlocked}}, e404,
				{409, []string{CodeAlreadyCalling, CodeInvalidState}}, {410, []string{CodeLinkUsed, CodeLinkExpired, CodeEnrollmentExpired}},
				{429, []string{CodeRateLimited}}}, eCommon)},
		"/v1/enrollments/{id}/events": obj{"get": operation("listEvents", "The enrollment's audit trail, oldest first",
			secKey, []obj{pID}, nil, 200, jsonResp("audit events", ref("AuditEvents")),
			[]errResp{e400id, e401, e404}, eCommon)},
		"/v1/enrollments/{id}/stream": obj{"get": operation("streamEnrollment",
			"Server-Sent Events of the enrollment's state: event 'state' with the Enrollment as data, at once and on each change; ': heartbeat' comments; ends when the enrollment is final",
			secStream, []obj{pID}, nil, 200,
			obj{"description": "event stream", "content": obj{"text/event-stream": obj{"schema": obj{"type": "string"}}}},
			[]errResp{e400id, e401link, e403link, e404, {410, []string{CodeLinkUsed, CodeLinkExpired}}}, eCommon)},
		"/v1/enrollments/{id}/app-password": obj{"post": operation("claimAppPassword",
			"With the enrollment's link only: issue the user's app password for the verified enrollment and complete it; the link is spent",
			secLink, []obj{pID}, ref("ClaimAppPassword"), 201, jsonResp("the app password, shown once", ref("IssuedAppPassword")),
			eBody, []errResp{e400id, {401, []string{CodeLinkInvalid}}, e403link, e404,
				{409, []string{CodeNotVerified, CodeInvalidState, CodeAppPasswordLimit}},
				{410, []string{CodeLinkUsed, CodeLinkExpired, CodeEnrollmentExpired}}, e422}, eCommon)},
		"/v1/link": obj{"get": operation("getLink", "The enrollment a link token is for (the web UI's first request)",
			secLink, nil, nil, 200, jsonResp("the link's enrollment", ref("LinkInfo")),
			[]errResp{{401, []string{CodeLinkInvalid}}, e403link, e404, {410, []string{CodeLinkUsed, CodeLinkExpired}}}, eCommon)},
		"/v1/users/{user}/app-passwords": obj{
			"post": operation("issueAppPassword",
				"Issue an app password for the user's verified enrollment (which it completes); the password is returned once",
				secKey, []obj{pUser}, ref("IssueAppPassword"), 201, jsonResp("the app password, shown once", ref("IssuedAppPassword")),
				eBody, []errResp{e400id, e401, {409, []string{CodeNotVerified, CodeInvalidState, CodeAppPasswordLimit}},
					{410, []string{CodeEnrollmentExpired}}, {422, []string{CodeInvalidField, CodeEnrollmentMismatch}}}, eCommon),
			"get": operation("listAppPasswords", "The user's app passwords, revoked ones included: names and times, never hashes",
				secKey, []obj{pUser}, nil, 200, jsonResp("app passwords", ref("AppPasswords")),
				[]errResp{e400id, e401}, eCommon),
		},
		"/v1/users/{user}/app-passwords/{id}": obj{"delete": optionalReason(operation("revokeAppPassword",
			"Revoke an app password (again: 204 too), with an optional reason; recorded as an operator event",
			secKey, []obj{pUser, pAppPwID}, nil, 204, obj{"description": "revoked"},
			eBody, []errResp{e400id, e401, e404}, eCommon))},
		"/v1/app-passwords/check": obj{"post": operation("checkAppPassword",
			"Check a user's app password (for a mail gateway or RADIUS bridge); failed checks are limited per user, per client address and in all, per minute",
			secKey, nil, ref("CheckAppPassword"), 200, jsonResp("whether it is valid", ref("CheckResult")),
			eBody, []errResp{e401, e422, {429, []string{CodeRateLimited}}}, eCommon)},
	}
	for p, ops := range adminPaths() {
		paths[p] = ops
	}
	documentScopes(paths)
	return obj{
		"openapi": "3.1.0",
		"info": obj{
			"title":       "denwa enrollment API",
			"version":     "1",
			"description": "Register a verification phone, verify it by a call, issue app passwords. Every error is {\"error\":{\"code\",\"message\",\"message_en\"}}; each error response lists its codes in x-error-codes.",
		},
		"paths": paths,

		"webhooks": webhooks(),
		"components": obj{
			"schemas": schemas(),
			"securitySchemes": obj{
				"apiKey": obj{"type": "http", "scheme": "bearer", "bearerFormat": "dnw_<id>_<secret>",
					"description": "an API key (denwa apikey create NAME --scope …); each operation names the scope it needs: enroll, check or admin"},
				"link":      obj{"type": "http", "scheme": "bearer", "bearerFormat": "enrollment link token"},
				"linkQuery": obj{"type": "apiKey", "in": "query", "name": "token", "description": "the link token, on the event stream only (refused on every other route)"},
			},
		},
	}
}

// webhooks documents the requests denwa serve posts to the webhook URL,
// one per event (enroll.WebhookDeliverer).
func webhooks() obj {
	header := func(name, desc string) obj {
		return obj{"name": name, "in": "header", "required": true, "description": desc, "schema": obj{"type": "string"}}
	}
	params := []obj{
		header(enroll.WebhookSignatureHeader, "t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<body>\" under the webhook secret>; refuse a bad signature or an old t"),
		header("Denwa-Event", "the event, as in the body"),
		header(enroll.WebhookDeliveryHeader, "the message's ID: the de-duplication key. Delivery is at least once: a message is "+
			"sent again after a failed or lost answer and when an operator redelivers it (denwa webhook redeliver), always "+
			"with the same "+enroll.WebhookDeliveryHeader+". Treat a repeated "+enroll.WebhookDeliveryHeader+" as the same event: "+
			"answer 2xx and do not act on it twice."),
	}
	out := obj{}
	for _, ev := range []struct{ name, summary string }{
		{enroll.EventVerified, "A call verified the phone"},
		{enroll.EventFailed, "A call ended without verifying (any other outcome, a call interrupted by a restart included)"},
		{enroll.EventFraudReported, "The person called reported fraud (0#): the number is blocked and the enrollment failed"},
	} {
		out[ev.name] = obj{"post": obj{
			"operationId": "webhook_" + ev.name,
			"summary":     ev.summary,
			"description": "Posted to the webhook URL, signed. Any answer but a 2xx, or none within 10 s, is retried with " +
				"exponential backoff; after the last retry the message is dead until an operator redelivers it. " +
				"Receivers de-duplicate on " + enroll.WebhookDeliveryHeader + ".",
			"security":    secNone,
			"parameters":  params,
			"requestBody": obj{"required": true, "content": obj{"application/json": obj{"schema": ref("WebhookPayload")}}},
			"responses": obj{
				"2XX":     obj{"description": "received (also for a " + enroll.WebhookDeliveryHeader + " seen before)"},
				"default": obj{"description": "not received: retried"},
			},
		}}
	}
	return out
}

// webhookPayload is the schema of enroll.WebhookPayload.
func webhookPayload(states, outcomes []string) obj {
	return obj{
		"type": "object", "required": []string{"event", "at", "enrollment"},
		"properties": obj{
			"event": obj{"type": "string", "enum": []string{enroll.EventVerified, enroll.EventFailed, enroll.EventFraudReported}},
			"at":    strFmt("date-time"),
			"enrollment": obj{
				"type":     "object",
				"required": []string{"id", "user_id", "phone", "state", "attempts", "outcome"},
				"properties": obj{
					"id": str("enrollment ID"), "user_id": str("the organisation's user ID"), "phone": str("E.164"),
					"state":       obj{"type": "string", "enum": states},
					"attempts":    obj{"type": "integer"},
					"outcome":     obj{"type": "string", "enum": outcomes},
					"cause":       str("why the call failed"),
					"key_source":  obj{"type": "string", "enum": []string{"rfc4733", "inband", "sip-info"}},
					"verified_at": strFmt("date-time"),
				},
			},
		},
	}
}

// documentScopes names, on each operation an API key may call, the scope
// the key needs (routeScopes) in its apiKey security requirement, and
// adds the 403 insufficient_scope it answers without it.
func documentScopes(paths obj) {
	for path, ops := range paths {
		for method, op := range ops.(obj) {
			o := op.(obj)
			sec := slices.Clone(o["security"].([]obj)) // shared by operations: changed here per operation
			o["security"] = sec
			keyed := false
			for i, req := range sec {
				if _, ok := req["apiKey"]; ok {
					sec[i] = obj{"apiKey": []string{scopeOf(strings.ToUpper(method) + " " + path).String()}}
					keyed = true
				}
			}
			if !keyed {
				continue
			}
			responses := o["responses"].(obj)
			r, ok := responses["403"].(obj)
			if !ok {
				r = obj{"description": http.StatusText(http.StatusForbidden), "content": obj{"application/json": obj{"schema": ref("Error")}}}
				responses["403"] = r
			}
			codes, _ := r["x-error-codes"].([]string)
			r["x-error-codes"] = append(slices.Clone(codes), CodeInsufficientScope)
		}
	}
}

var openAPIJSON = sync.OnceValue(func() []byte {
	b, err := json.MarshalIndent(openAPIDocument(), "", "  ")
	if err != nil {
		panic("httpapi: OpenAPI document: " + err.Error())
	}
	return append(b, '\n')
})

// openapi: GET /v1/openapi.json.
func (s *Server) openapi(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(openAPIJSON())
	return nil
}
