package webui

import (
	"net/http"

	"denwa/enroll"
	"denwa/enroll/httpx"
)

// lang is a language the screens are written in.
type lang string

const (
	langJA lang = "ja"
	langEN lang = "en"
)

// langCookie keeps a language chosen with ?lang= for the next pages.
const langCookie = "denwa_lang"

// pickLang chooses the page language: ?lang=ja|en, then the cookie an
// earlier ?lang= set, then Accept-Language, then Japanese
// (httpx.PickLanguage).
func pickLang(r *http.Request) lang { return lang(httpx.PickLanguage(r, langCookie)) }

// msgs is every text of the screens in one language.
type msgs struct {
	Lang, OtherLang, OtherLangName string
	Title, Brand, SkipToMain       string

	Step1, Step1Lead, Method, MethodPhone, Country, Number, NumberHint string
	Action, ActionCall, Next, FixedNumber, ErrorsHeading               string

	StartTitle, StartLead, Continue string

	Step2, Calling, PressHash, PressAnalog, PressCode, PressCodeAnalog, PressFraud, Waiting, NoScript, NoScriptButton string

	Step3, PasswordLead, PasswordLabel, Copy, Copied, CopyFailed, NeverAgain, Done, DoneThanks string

	CompletedTitle, CompletedBody string

	Retry, RetryLeft, NoRetry, FailedHeading string

	ErrTitle, LinkInvalid, LinkExpired, LinkUsed, LinkOtherBrowser, Forbidden, SessionExpired string
	Internal, Busy, TooManyPasswords, LimitReached, LimitRetryAfter, Expired, Blocked         string

	Countries map[string]string
	Outcomes  map[enroll.Outcome][2]string // title, text
}

var ja = msgs{
	Lang: "ja", OtherLang: "en", OtherLangName: "English",
	Title: "追加のセキュリティ確認", Brand: "denwa", SkipToMain: "本文へ移動",

	Step1:         "手順 1: 確認の方法",
	Step1Lead:     "アカウントを守るため、電話で本人確認を行います。確認に使う電話番号を入力してください。",
	Method:        "確認の方法",
	MethodPhone:   "認証用電話",
	Country:       "国または地域",
	Number:        "電話番号",
	NumberHint:    "例: 03-1234-5678（ハイフンはなくてもかまいません）",
	Action:        "確認の手段",
	ActionCall:    "電話する",
	Next:          "次へ",
	FixedNumber:   "確認に使う電話番号",
	ErrorsHeading: "入力内容を確認してください",

	StartTitle: "電話番号の確認を始めます",
	StartLead:  "このリンクは一度だけ使えます。「続ける」を押すと、このブラウザーで確認を始めます。",
	Continue:   "続ける",

	Step2:           "手順 2: 電話に出てください",
	Calling:         "%s に電話をかけています…",
	PressHash:       "電話に出て、音声案内が流れたら「#」を押してください。",
	PressAnalog:     "ダイヤル回線（アナログ回線）の方は、「*」を押してから「#」を押してください。",
	PressCode:       "電話に出て、音声案内が読み上げる数字を押し、最後に「#」を押してください。",
	PressCodeAnalog: "ダイヤル回線（アナログ回線）の方は、「*」を押してから数字と「#」を押してください。",
	PressFraud:      "心当たりのない電話の場合は「0」「#」を押して報告してください。",
	Waiting:         "応答を待っています。このページは自動的に切り替わります。",
	NoScript:        "JavaScript が無効です。電話で「#」を押したあと、下のボタンを押してください。",
	NoScriptButton:  "確認が終わったら次へ",

	Step3:         "手順 3: アプリ パスワード",
	PasswordLead:  "電話番号を確認しました。メール アプリなど、多要素認証に対応していないアプリでは次のアプリ パスワードを使ってください。",
	PasswordLabel: "アプリ パスワード",
	Copy:          "コピー",
	Copied:        "コピーしました",
	CopyFailed:    "コピーできませんでした。パスワードを選択してコピーしてください。",
	NeverAgain:    "このパスワードは二度と表示されません。今すぐ控えるか、アプリに入力してください。",
	Done:          "完了",
	DoneThanks:    "登録が完了しました。このウィンドウを閉じてかまいません。",

	CompletedTitle: "登録は完了しています",
	CompletedBody:  "この電話番号の確認は完了し、アプリ パスワードは発行済みです。アプリ パスワードは一度だけ表示され、再表示はできません。必要な場合は管理者に新しい登録用リンクを依頼してください。",

	Retry:         "もう一度",
	RetryLeft:     "あと %d 回かけ直せます。",
	NoRetry:       "これ以上かけ直すことはできません。管理者に新しい登録用リンクを依頼してください。",
	FailedHeading: "確認できませんでした",

	ErrTitle:         "このリンクは使えません",
	LinkInvalid:      "リンクが正しくありません。メールに記載されたリンクをそのまま開いてください。",
	LinkExpired:      "このリンクは有効期限が切れています。管理者に新しい登録用リンクを依頼してください。",
	LinkUsed:         "このリンクはすでに使用されています。リンクは一度だけ、最初に「続ける」を押したブラウザーでのみ使えます。",
	LinkOtherBrowser: "このリンクは別のブラウザーで開かれています。最初に開いたブラウザーで続けてください。",
	Forbidden:        "この操作は受け付けられませんでした。ページを開き直してからもう一度お試しください。",
	SessionExpired:   "一定時間が経過したため、この画面は使えなくなりました。管理者に新しい登録用リンクを依頼してください。",
	Internal:         "一時的な問題が発生しました。しばらくしてからもう一度お試しください。",
	Busy:             "ほかの操作が進行中です。ページを開き直してください。",
	TooManyPasswords: "アプリ パスワードの数が上限に達しています。使っていないアプリ パスワードを削除してからお試しください。",
	LimitReached:     "短時間に電話をかける回数の上限に達しました。",
	LimitRetryAfter:  "約 %d 分後にもう一度お試しください。",
	Expired:          "確認の有効期限が切れました。管理者に新しい登録用リンクを依頼してください。",
	Blocked:          "この電話番号には電話をかけられません。",

	Countries: map[string]string{
		"JP": "日本", "US": "アメリカ合衆国", "GB": "イギリス", "KR": "韓国", "TW": "台湾",
		"CN": "中国", "SG": "シンガポール", "AU": "オーストラリア",
	},
	Outcomes: map[enroll.Outcome][2]string{
		enroll.OutcomeNoAnswer:      {"電話に応答がありませんでした", "呼び出しましたが、応答がありませんでした。電話の近くにいることを確認して、もう一度お試しください。"},
		enroll.OutcomeBusy:          {"話し中でした", "電話が話し中でした。通話が終わってから、もう一度お試しください。"},
		enroll.OutcomeRejected:      {"電話が拒否されました", "電話がつながりませんでした（着信が拒否されました）。"},
		enroll.OutcomeUnreachable:   {"電話がつながりませんでした", "この番号に電話をかけられませんでした。番号を確認してください。"},
		enroll.OutcomeNoInput:       {"キーの入力がありませんでした", "電話に応答がありましたが、「#」が押されませんでした。留守番電話の場合は、電話に出てからもう一度お試しください。"},
		enroll.OutcomeWrongInput:    {"違うキーが押されました", "「#」以外のキーが続けて押されたため、確認できませんでした。音声案内のあとに「#」を押してください。"},
		enroll.OutcomeHungUp:        {"電話が切れました", "確認が終わる前に電話が切れました。もう一度お試しください。"},
		enroll.OutcomeFraudReported: {"心当たりのない電話として報告されました", "「0」「#」で報告されたため、この番号は登録に使えなくなりました。心当たりがない場合は、アカウントの管理者に連絡してください。"},
		enroll.OutcomeFailed:        {"電話をかけられませんでした", "システム側の問題で電話をかけられませんでした。しばらくしてからもう一度お試しください。"},
	},
}

var en = msgs{
	Lang: "en", OtherLang: "ja", OtherLangName: "日本語",
	Title: "Additional security verification", Brand: "denwa", SkipToMain: "Skip to main content",

	Step1:         "Step 1: How should we contact you?",
	Step1Lead:     "To protect your account we verify that you hold a phone. Enter the number to use for verification.",
	Method:        "Verification method",
	MethodPhone:   "Authentication phone",
	Country:       "Country or region",
	Number:        "Phone number",
	NumberHint:    "For example 03-1234-5678 (hyphens are optional)",
	Action:        "Method",
	ActionCall:    "Call me",
	Next:          "Next",
	FixedNumber:   "Number to be called",
	ErrorsHeading: "Please check what you entered",

	StartTitle: "Verify your phone number",
	StartLead:  "This link works once. Press 「Continue」 to start the verification in this browser.",
	Continue:   "Continue",

	Step2:           "Step 2: Answer your phone",
	Calling:         "Calling %s …",
	PressHash:       "Answer the call and press 「#」 when you hear the message.",
	PressAnalog:     "On a rotary (analog, pulse-dial) line, press 「*」 and then 「#」.",
	PressCode:       "Answer the call, key in the digits the message reads out, then press 「#」.",
	PressCodeAnalog: "On a rotary (analog, pulse-dial) line, press 「*」 first, then the digits and 「#」.",
	PressFraud:      "If you did not ask for this call, press 「0」 「#」 to report it.",
	Waiting:         "Waiting for your answer. This page moves on by itself.",
	NoScript:        "JavaScript is off. After pressing 「#」 on the phone, press the button below.",
	NoScriptButton:  "Continue after the call",

	Step3:         "Step 3: App password",
	PasswordLead:  "Your phone is verified. Use this app password in apps that cannot do multi-factor sign-in, such as mail clients.",
	PasswordLabel: "App password",
	Copy:          "Copy",
	Copied:        "Copied",
	CopyFailed:    "Could not copy. Select the password and copy it yourself.",
	NeverAgain:    "This password will never be shown again. Write it down or enter it in your app now.",
	Done:          "Done",
	DoneThanks:    "You are all set. You may close this window.",

	CompletedTitle: "This enrollment is complete",
	CompletedBody:  "The phone number was verified and the app password was issued. An app password is shown only once and cannot be shown again. Ask your administrator for a new enrollment link if you need another one.",

	Retry:         "Try again",
	RetryLeft:     "You can try %d more time(s).",
	NoRetry:       "No more attempts are allowed. Ask your administrator for a new enrollment link.",
	FailedHeading: "We could not verify your phone",

	ErrTitle:         "This link cannot be used",
	LinkInvalid:      "The link is not valid. Open the link exactly as it appears in your message.",
	LinkExpired:      "This link has expired. Ask your administrator for a new enrollment link.",
	LinkUsed:         "This link has already been used. A link works once, in the browser that pressed 「Continue」 first.",
	LinkOtherBrowser: "This link was opened in another browser. Continue in the browser you opened it in first.",
	Forbidden:        "The request was refused. Reload the page and try again.",
	SessionExpired:   "This page has timed out. Ask your administrator for a new enrollment link.",
	Internal:         "Something went wrong on our side. Please try again in a little while.",
	Busy:             "Another action is in progress. Please reload the page.",
	TooManyPasswords: "You have reached the maximum number of app passwords. Delete one you no longer use and try again.",
	LimitReached:     "Too many calls were placed in a short time.",
	LimitRetryAfter:  "Please try again in about %d minute(s).",
	Expired:          "The verification has expired. Ask your administrator for a new enrollment link.",
	Blocked:          "This number cannot be called.",

	Countries: map[string]string{
		"JP": "Japan", "US": "United States", "GB": "United Kingdom", "KR": "South Korea", "TW": "Taiwan",
		"CN": "China", "SG": "Singapore", "AU": "Australia",
	},
	Outcomes: map[enroll.Outcome][2]string{
		enroll.OutcomeNoAnswer:      {"No answer", "We called but nobody answered. Keep your phone close and try again."},
		enroll.OutcomeBusy:          {"The line was busy", "Your line was busy. Try again when the other call has ended."},
		enroll.OutcomeRejected:      {"The call was declined", "The call was declined."},
		enroll.OutcomeUnreachable:   {"The call did not go through", "We could not reach this number. Check the number."},
		enroll.OutcomeNoInput:       {"No key was pressed", "The call was answered but 「#」 was not pressed. If voicemail answered, pick up the call yourself next time."},
		enroll.OutcomeWrongInput:    {"Wrong key", "Keys other than 「#」 were pressed too many times. Press 「#」 after the message."},
		enroll.OutcomeHungUp:        {"The call ended", "The call ended before verification finished. Please try again."},
		enroll.OutcomeFraudReported: {"The call was reported as unexpected", "The call was reported with 「0」 「#」, so this number can no longer be used. If you did not ask for it, contact your account administrator."},
		enroll.OutcomeFailed:        {"We could not place the call", "A problem on our side kept us from calling. Please try again in a little while."},
	},
}

func (l lang) msgs() *msgs {
	if l == langEN {
		return &en
	}
	return &ja
}

// outcomeText returns the title and text of a failed call's page.
func (m *msgs) outcomeText(o enroll.Outcome) (string, string) {
	if t, ok := m.Outcomes[o]; ok {
		return t[0], t[1]
	}
	t := m.Outcomes[enroll.OutcomeFailed]
	return t[0], t[1]
}

// phoneErrorText is a *enroll.PhoneError's message in l.
func phoneErrorText(l lang, pe *enroll.PhoneError) string {
	if l == langEN {
		return pe.MessageEN
	}
	return pe.MessageJA
}
