package httpapi

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"denwa/enroll"
)

// The document's webhooks are the events denwa sends, each naming
// Denwa-Delivery as the key receivers de-duplicate on, with a body schema
// whose fields are those of enroll.WebhookPayload.
func TestOpenAPIWebhooks(t *testing.T) {
	var doc struct {
		Webhooks map[string]struct {
			Post struct {
				Parameters []struct {
					Name, In, Description string
					Required              bool
				} `json:"parameters"`
				RequestBody struct {
					Content map[string]struct {
						Schema map[string]string `json:"schema"`
					} `json:"content"`
				} `json:"requestBody"`
			} `json:"post"`
		} `json:"webhooks"`
		Components struct {
			Schemas map[string]json.RawMessage `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(openAPIJSON(), &doc); err != nil {
		t.Fatal(err)
	}
	events := []string{enroll.EventVerified, enroll.EventFailed, enroll.EventFraudReported}
	var documented []string
	for ev, hook := range doc.Webhooks {
		documented = append(documented, ev)
		var headers []string
		for _, p := range hook.Post.Parameters {
			if p.In != "header" || !p.Required {
				t.Errorf("%s: parameter %+v", ev, p)
			}
			headers = append(headers, p.Name)
			if p.Name == enroll.WebhookDeliveryHeader && (!strings.Contains(p.Description, "de-duplication key") ||
				!strings.Contains(p.Description, "same event")) {
				t.Errorf("%s: %s is not documented as the de-duplication key: %q", ev, p.Name, p.Description)
			}
		}
		if !sameSet(headers, []string{enroll.WebhookSignatureHeader, "Denwa-Event", enroll.WebhookDeliveryHeader}) {
			t.Errorf("%s: headers %v", ev, headers)
		}
		if ref := hook.Post.RequestBody.Content["application/json"].Schema["$ref"]; ref != "#/components/schemas/WebhookPayload" {
			t.Errorf("%s: body schema %q", ev, ref)
		}
	}
	if !sameSet(documented, events) {
		t.Errorf("webhooks %v, want %v", documented, events)
	}

	var payload struct {
		Properties map[string]json.RawMessage `json:"properties"`
	}
	if err := json.Unmarshal(doc.Components.Schemas["WebhookPayload"], &payload); err != nil {
		t.Fatal(err)
	}
	var snapshot struct {
		Properties map[string]json.RawMessage `json:"properties"`
	}
	if err := json.Unmarshal(payload.Properties["enrollment"], &snapshot); err != nil {
		t.Fatal(err)
	}
	for schema, v := range map[string]struct {
		props map[string]json.RawMessage
		typ   reflect.Type
	}{
		"WebhookPayload":            {payload.Properties, reflect.TypeFor[enroll.WebhookPayload]()},
		"WebhookPayload.enrollment": {snapshot.Properties, reflect.TypeFor[enroll.WebhookSnapshot]()},
	} {
		var fields, props []string
		for _, f := range reflect.VisibleFields(v.typ) {
			fields = append(fields, strings.Split(f.Tag.Get("json"), ",")[0])
		}
		for p := range v.props {
			props = append(props, p)
		}
		slices.Sort(fields)
		slices.Sort(props)
		if !slices.Equal(fields, props) {
			t.Errorf("%s documents %v; the Go type has %v", schema, props, fields)
		}
	}
}
