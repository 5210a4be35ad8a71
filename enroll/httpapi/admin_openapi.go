package httpapi

import (
	"denwa/enroll"
)

// The admin API's part of the OpenAPI document (openapi.go merges it).

var (
	e400q      = errResp{400, []string{CodeInvalidQuery}}
	pE164      = pathParam("e164", "the blocked number in E.164 (+81312345678; the + may be sent as %2B)")
	pKeyName   = pathParam("name", "the API key's name: 1 to 64 characters from A-Z a-z 0-9 . _ -")
	pMessageID = pathParam("id", "the webhook message's ID (its Denwa-Delivery header)")
	pCursor    = queryParam("cursor", "the next_cursor of the previous page; absent for the first", obj{"type": "string"})
	pLimit     = queryParam("limit", "the most records on the page (default 50)", obj{"type": "integer", "minimum": 1, "maximum": enroll.MaxPageSize})
	pFrom      = queryParam("from", "RFC 3339: only records at or after", strFmt("date-time"))
	pTo        = queryParam("to", "RFC 3339: only records before", strFmt("date-time"))
)

func queryParam(name, desc string, schema obj) obj {
	return obj{"name": name, "in": "query", "required": false, "description": desc, "schema": schema}
}

// optionalReason documents the optional {"reason"} body of the admin's
// DELETEs.
func optionalReason(o obj) obj {
	o["requestBody"] = obj{"required": false, "content": obj{"application/json": obj{"schema": ref("AdminReason")}}}
	return o
}

func adminPaths() obj {
	page := []obj{pCursor, pLimit}
	listErrs := []errResp{e400q, e401}
	return obj{
		"/v1/admin/enrollments": obj{"get": operation("adminListEnrollments",
			"Search the enrollments, newest first: by user, number (any form read for JP, or E.164), state, outcome, creation time",
			secKey, append([]obj{
				queryParam("user", "the organisation's user ID", obj{"type": "string"}),
				queryParam("phone", "the number, normalised to E.164", obj{"type": "string"}),
				queryParam("state", "", obj{"type": "string", "enum": []string{"pending", "calling", "verified", "completed", "failed", "expired"}}),
				queryParam("outcome", "of the last call", obj{"type": "string", "enum": []string{"verified", "no-answer", "busy", "rejected", "unreachable", "no-input", "wrong-input", "hung-up", "fraud-reported", "failed"}}),
				pFrom, pTo,
			}, page...), nil, 200, jsonResp("a page of enrollments", ref("AdminEnrollments")), listErrs, eCommon)},
		"/v1/admin/enrollments/{id}": obj{"get": operation("adminGetEnrollment",
			"One enrollment with its timeline (states, calls and their node, keys heard and their source, outcomes, causes), what operators did about it and the block on its number",
			secKey, []obj{pID}, nil, 200, jsonResp("the enrollment and its timeline", ref("AdminEnrollmentDetail")),
			[]errResp{{400, []string{CodeInvalidID, CodeInvalidQuery}}, e401, e404}, eCommon)},
		"/v1/admin/blocked-numbers": obj{"get": operation("adminListBlockedNumbers", "The blocked numbers, newest block first",
			secKey, page, nil, 200, jsonResp("a page of blocked numbers", ref("BlockedNumbers")), listErrs, eCommon)},
		"/v1/admin/blocked-numbers/{e164}": obj{"delete": optionalReason(operation("adminUnblock",
			"Lift the block on a number, with an optional reason; recorded as an operator event naming the API key",
			secKey, []obj{pE164}, nil, 200, jsonResp("the block lifted and the operator event", ref("Unblocked")),
			eBody, []errResp{e400id, e401, e404}, eCommon))},
		"/v1/admin/fraud-reports": obj{"get": operation("adminListFraudReports",
			"The calls whose person pressed 0#, newest first, each with its enrollment and whether the number is still blocked",
			secKey, append([]obj{pFrom, pTo}, page...), nil, 200, jsonResp("a page of fraud reports", ref("FraudReports")), listErrs, eCommon)},
		"/v1/admin/operator-events": obj{"get": operation("adminListOperatorEvents",
			"What operators did (unblocks, keys made and revoked, app passwords revoked, webhooks redelivered), newest first",
			secKey, append([]obj{queryParam("target", "only the events about this number, key name, <user>/<app password ID> or message ID", obj{"type": "string"})}, page...),
			nil, 200, jsonResp("a page of operator events", ref("OperatorEvents")), listErrs, eCommon)},
		"/v1/admin/users/{user}/app-passwords": obj{"get": operation("adminListAppPasswords",
			"A user's app passwords, revoked ones included: names and times, never hashes",
			secKey, []obj{pUser}, nil, 200, jsonResp("app passwords", ref("AppPasswords")),
			[]errResp{e400id, e401}, eCommon)},
		"/v1/admin/users/{user}/app-passwords/{id}": obj{"delete": optionalReason(operation("adminRevokeAppPassword",
			"Revoke a user's app password (again: 204 too), with an optional reason; recorded as an operator event",
			secKey, []obj{pUser, pAppPwID}, nil, 204, obj{"description": "revoked"},
			eBody, []errResp{e400id, e401, e404}, eCommon))},
		"/v1/admin/api-keys": obj{
			"get": operation("adminListAPIKeys", "The API keys: names, scopes and times, never keys or hashes",
				secKey, nil, nil, 200, jsonResp("API keys", ref("APIKeys")), listErrs, eCommon),
			"post": operation("adminCreateAPIKey", "Make an API key; the key is returned this once",
				secKey, nil, ref("CreateAPIKey"), 201, jsonResp("the key, shown once", ref("CreatedAPIKey")),
				eBody, []errResp{e401, {409, []string{CodeNameTaken}}}, eCommon),
		},
		"/v1/admin/api-keys/{name}": obj{"delete": optionalReason(operation("adminRevokeAPIKey",
			"Revoke an API key (again: 204 too), with an optional reason; requests with it are refused from now on",
			secKey, []obj{pKeyName}, nil, 204, obj{"description": "revoked"},
			eBody, []errResp{e400id, e401, e404}, eCommon))},
		"/v1/admin/webhooks": obj{"get": operation("adminListWebhooks",
			"The webhook messages not delivered, oldest first: dead (the default), pending, or undelivered (both); never their payloads",
			secKey, append([]obj{queryParam("state", "", obj{"type": "string", "enum": []string{"dead", "pending", "undelivered"}, "default": "dead"})}, page...),
			nil, 200, jsonResp("a page of webhook messages", ref("Webhooks")), listErrs, eCommon)},
		"/v1/admin/webhooks/{id}/redeliver": obj{"post": operation("adminRedeliverWebhook",
			"Send a dead webhook message again (no body, or {}): back to pending, under the same Denwa-Delivery",
			secKey, []obj{pMessageID}, nil, 204, obj{"description": "pending again"},
			eBody, []errResp{e400id, e401, e404, {409, []string{CodeNotDead}}}, eCommon)},
		"/v1/admin/summary": obj{"get": operation("adminSummary",
			"How the calls that ended in a window went: outcomes, key sources, failure causes, answer-to-key median and p95, calls in progress, and outcomes per time bucket for a chart",
			secKey, []obj{
				queryParam("from", "RFC 3339; default: a day before to", strFmt("date-time")),
				queryParam("to", "RFC 3339; default: now", strFmt("date-time")),
				queryParam("bucket", "the width of the series' buckets, a Go duration (15m, 1h), at least 1m; default: at most 48 buckets", obj{"type": "string"}),
			}, nil, 200, jsonResp("the summary", ref("Summary")), listErrs, eCommon)},
	}
}

func adminSchemas() obj {
	counts := obj{"type": "object", "additionalProperties": obj{"type": "integer"}}
	list := func(field, item string) obj {
		return obj{
			"type": "object", "required": []string{field},
			"properties": obj{
				field:         obj{"type": "array", "items": ref(item)},
				"next_cursor": str("pass back as ?cursor= for the next page; absent on the last"),
			},
		}
	}
	blocked := obj{
		"type": "object", "required": []string{"phone", "reason", "blocked_at"},
		"properties": obj{
			"phone": str("E.164"), "phone_display": str("international format, for people"),
			"reason":        str("fraud-reported, or an operator's text"),
			"enrollment_id": str("the enrollment whose call reported it"),
			"blocked_at":    strFmt("date-time"),
		},
	}
	opEvent := obj{
		"type": "object", "required": []string{"id", "at", "actor", "action"},
		"properties": obj{
			"id": str(""), "at": strFmt("date-time"), "actor": str("api-key:<name>, or local (denwa admin --store)"),
			"action": obj{"type": "string", "enum": []string{enroll.OpUnblock, enroll.OpAPIKeyCreate, enroll.OpAPIKeyRevoke, enroll.OpAppPasswordRevoke, enroll.OpWebhookRedeliver}},
			"target": str("the number, key name, <user>/<app password ID> or message ID"), "reason": str("the operator's words"),
			"enrollment_id": str("the enrollment it concerns, if any"), "request_id": str("the X-Request-ID of the request"),
		},
	}
	return obj{
		"AdminEnrollment": obj{"allOf": []obj{ref("Enrollment"), {
			"type": "object",
			"properties": obj{
				"client_ip": str("the user's address as the creating system gave it"),
				"node":      str("the node that placed the last call"),
			},
		}}},
		"AdminEnrollments": list("enrollments", "AdminEnrollment"),
		"TimelineEvent": obj{"allOf": []obj{ref("AuditEvent"), {
			"type": "object",
			"properties": obj{
				"node":        str("the node that placed the call (call events)"),
				"answered_at": strFmt("date-time"),
				"key_at":      obj{"type": "string", "format": "date-time", "description": "when the deciding key was pressed"},
			},
		}}},
		"OperatorEvent":  opEvent,
		"OperatorEvents": list("operator_events", "OperatorEvent"),
		"AdminEnrollmentDetail": obj{
			"type": "object", "required": []string{"enrollment", "timeline", "operator_events"},
			"properties": obj{
				"enrollment":      ref("AdminEnrollment"),
				"timeline":        obj{"type": "array", "items": ref("TimelineEvent"), "description": "oldest first"},
				"operator_events": obj{"type": "array", "items": ref("OperatorEvent"), "description": "oldest first"},
				"block":           ref("BlockedNumber"),
			},
		},
		"BlockedNumber":  blocked,
		"BlockedNumbers": list("blocked_numbers", "BlockedNumber"),
		"AdminReason": obj{
			"type": "object", "additionalProperties": false,
			"properties": obj{"reason": obj{"type": "string", "maxLength": enroll.MaxReasonLen, "description": "why, for the operator events"}},
		},
		"Unblocked": obj{
			"type": "object", "required": []string{"unblocked", "operator_event"},
			"properties": obj{"unblocked": ref("BlockedNumber"), "operator_event": ref("OperatorEvent")},
		},
		"FraudReport": obj{
			"type": "object", "required": []string{"at", "enrollment", "blocked"},
			"properties": obj{
				"at": strFmt("date-time"), "enrollment": ref("AdminEnrollment"),
				"key_source": str(""), "keys": str("the keys the call acted on"),
				"blocked": obj{"type": "boolean", "description": "the number is still blocked"},
			},
		},
		"FraudReports": list("fraud_reports", "FraudReport"),
		"APIKey": obj{
			"type": "object", "required": []string{"name", "scopes", "created_at"},
			"properties": obj{
				"name":       str(""),
				"scopes":     obj{"type": "array", "items": obj{"type": "string", "enum": []string{"admin", "check", "enroll"}}},
				"created_at": strFmt("date-time"), "revoked_at": strFmt("date-time"),
			},
		},
		"APIKeys": obj{
			"type": "object", "required": []string{"api_keys"},
			"properties": obj{"api_keys": obj{"type": "array", "items": ref("APIKey")}},
		},
		"CreateAPIKey": obj{
			"type": "object", "required": []string{"name", "scopes"}, "additionalProperties": false,
			"properties": obj{
				"name":   obj{"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$"},
				"scopes": obj{"type": "array", "minItems": 1, "maxItems": 3, "items": obj{"type": "string", "enum": []string{"admin", "check", "enroll"}}},
			},
		},
		"CreatedAPIKey": obj{
			"type": "object", "required": []string{"api_key", "key"},
			"properties": obj{"api_key": ref("APIKey"), "key": str("the key (dnw_…): shown this once, never again")},
		},
		"Webhook": obj{
			"type": "object", "required": []string{"id", "event", "state", "created_at", "attempts"},
			"properties": obj{
				"id": obj{"type": "integer"}, "event": str(""), "enrollment_id": str(""),
				"state":      obj{"type": "string", "enum": []string{"pending", "dead"}},
				"created_at": strFmt("date-time"), "attempts": obj{"type": "integer"},
				"next_attempt_at": strFmt("date-time"), "dead_at": strFmt("date-time"),
				"last_error": str("the last failed attempt's status or error"),
			},
		},
		"Webhooks": list("webhooks", "Webhook"),
		"Summary": obj{
			"type": "object",
			"required": []string{"from", "to", "calls", "outcomes", "key_sources", "failure_causes", "answer_to_key",
				"calls_in_progress", "bucket_seconds", "series"},
			"properties": obj{
				"from": strFmt("date-time"), "to": strFmt("date-time"),
				"calls":       obj{"type": "integer", "description": "calls that ended in the window"},
				"outcomes":    counts,
				"key_sources": counts,
				"failure_causes": obj{"type": "array", "description": "the causes of failed calls, most frequent first, at most 10",
					"items": obj{"type": "object", "properties": obj{"cause": str(""), "count": obj{"type": "integer"}}}},
				"answer_to_key": obj{"type": "object", "description": "from the answer to the deciding key, on verified calls",
					"properties": obj{"count": obj{"type": "integer"}, "median_ms": obj{"type": "integer"}, "p95_ms": obj{"type": "integer"}}},
				"calls_in_progress": obj{"type": "integer"},
				"bucket_seconds":    obj{"type": "integer"},
				"series": obj{"type": "array", "items": obj{
					"type":       "object",
					"properties": obj{"start": strFmt("date-time"), "calls": obj{"type": "integer"}, "outcomes": counts},
				}},
			},
		},
	}
}
