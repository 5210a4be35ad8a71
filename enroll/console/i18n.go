package console

import "denwa/enroll"

// msgs is every text of the console in one language. The language is
// chosen as on the user's screens (httpx.PickLanguage: ?lang=, the
// cookie, Accept-Language, Japanese).
type msgs struct {
	Lang, OtherLang, OtherLangName string
	Title, SkipToMain, SignedInAs  string

	NavOverview, NavEnrollments, NavFraud, NavWebhooks, NavKeys, SignOut string

	SignInTitle, SignInLead, KeyLabel, KeyHint, SignIn, SignInFailed, TooManyTries string

	ErrTitle, NotFound, Forbidden, SignInAgain, Internal, BadInput, Conflict string

	OverviewTitle, Window, InProgress, Calls, Verified, FraudReports, Failures  string
	ChartTitle, ChartNone, FailuresByCause, NoFailures, KeySources, AnswerToKey string
	Median, P95, Count, Cause, Outcome, NotVerified                             string

	EnrollmentsTitle, Search, State, Any, Created, User, Phone, Attempts, Next, First    string
	NoEnrollments, Detail, Timeline, Time, Action, Keys, KeySource, Node, Actor, Request string
	Expires, Updated, ID, BackToList, Answered, KeyAt, AfterAnswer                       string

	FraudTitle, FraudLead, Blocked, NoBlocked, NoFraud, Reason, ReasonHint, Unblock, Unblocked string
	BlockedSince, Enrollment, OperatorEvents, Target, Lifted                                   string

	WebhooksTitle, Pending, Dead, Event, NextAttempt, LastError, Redeliver, Redelivered, NoWebhooks string

	KeysTitle, Name, Scopes, Revoked, Active, Revoke, RevokedDone, CreateKey, CreateKeyLead string
	NewKeyTitle, NewKeyOnce, NewKeyDone, CreateKeyTitle, ThisSession                        string

	AppPasswords, LastUsed, AppPasswordRevoked, NoAppPasswords, VerifiedAt, CompletedAt string

	States   map[enroll.State]string
	Outcomes map[enroll.Outcome]string
	Actions  map[string]string
	// OpActions names the actions of operator events.
	OpActions map[string]string
}

func messages(lang string) *msgs {
	if lang == "en" {
		return &en
	}
	return &ja
}

var ja = msgs{
	Lang: "ja", OtherLang: "en", OtherLangName: "English",
	Title: "denwa 管理コンソール", SkipToMain: "本文へ移動", SignedInAs: "API キー",

	NavOverview: "概要", NavEnrollments: "登録", NavFraud: "不正報告とブロック", NavWebhooks: "Webhook",
	NavKeys: "API キー", SignOut: "サインアウト",

	SignInTitle:  "サインイン",
	SignInLead:   "admin 権限のある API キーでサインインします。キーは次のコマンドで作成できます:",
	KeyLabel:     "API キー",
	KeyHint:      "dnw_ で始まるキー。この画面には二度と表示されません。",
	SignIn:       "サインイン",
	SignInFailed: "サインインできませんでした。有効で admin 権限のある API キーを入力してください。",
	TooManyTries: "サインインの失敗が続いたため、しばらく受け付けません。時間をおいてからお試しください。",

	ErrTitle:    "エラー",
	NotFound:    "ページが見つかりません。",
	Forbidden:   "この操作は受け付けられませんでした。ページを開き直してからもう一度お試しください。",
	SignInAgain: "サインインの有効期限が切れたか、API キーが無効になりました。もう一度サインインしてください。",
	Internal:    "一時的な問題が発生しました。しばらくしてからもう一度お試しください。",
	BadInput:    "入力内容が正しくありません。",
	Conflict:    "ほかの操作と重なったため、実行しませんでした。ページを開き直してください。",

	OverviewTitle: "今日の概要", Window: "期間", InProgress: "通話中", Calls: "通話", Verified: "確認済み",
	FraudReports: "不正報告", Failures: "失敗",
	ChartTitle: "1 時間ごとの通話結果", ChartNone: "この期間の通話はありません。",
	FailuresByCause: "失敗の原因", NoFailures: "失敗した通話はありません。", KeySources: "キーの受信方法",
	AnswerToKey: "応答からキー入力までの時間", Median: "中央値", P95: "95 パーセンタイル", Count: "件数",
	Cause: "原因", Outcome: "結果", NotVerified: "確認できなかった通話",

	EnrollmentsTitle: "登録", Search: "検索", State: "状態", Any: "すべて",
	Created: "作成", User: "ユーザー", Phone: "電話番号", Attempts: "発信回数", Next: "次へ", First: "最初へ",
	NoEnrollments: "該当する登録はありません。", Detail: "登録の詳細", Timeline: "経過", Time: "時刻", Action: "操作",
	Keys: "キー", KeySource: "受信方法", Node: "ノード", Actor: "実行者", Request: "リクエスト",
	Expires: "有効期限", Updated: "更新", ID: "ID", BackToList: "一覧へ戻る",
	Answered: "応答", KeyAt: "キー入力", AfterAnswer: "応答から %s",

	FraudTitle: "不正報告とブロック", FraudLead: "「0」「#」で報告された電話番号はブロックされ、登録に使えません。本人の操作ミスと確認できた場合は、ブロックを解除できます。解除は監査記録に残ります。",
	Blocked: "ブロック中の電話番号", NoBlocked: "ブロック中の電話番号はありません。", NoFraud: "不正報告はありません。",
	Reason: "理由", ReasonHint: "任意。監査記録に残ります。", Unblock: "ブロック解除",
	Unblocked: "%s のブロックを解除しました。", BlockedSince: "ブロック日時", Enrollment: "登録",
	OperatorEvents: "管理操作の記録", Target: "対象", Lifted: "解除済み",

	WebhooksTitle: "Webhook", Pending: "送信待ち", Dead: "送信失敗", Event: "イベント", NextAttempt: "次の送信",
	LastError: "最後のエラー", Redeliver: "再送", Redelivered: "Webhook %d を再送の待ち行列に戻しました。",
	NoWebhooks: "該当する Webhook はありません。",

	KeysTitle: "API キー", Name: "名前", Scopes: "権限", Revoked: "失効", Active: "有効", Revoke: "失効させる",
	RevokedDone: "API キー %s を失効させました。", CreateKey: "作成", CreateKeyLead: "新しい API キーを作成します。キーは作成直後に一度だけ表示されます。",
	NewKeyTitle: "API キーを作成しました", NewKeyOnce: "このキーは二度と表示されません。今すぐ安全な場所に控えてください。",
	NewKeyDone: "API キーの一覧へ", CreateKeyTitle: "API キーを作成", ThisSession: "サインイン中",

	AppPasswords: "このユーザーのアプリ パスワード", LastUsed: "最終使用", AppPasswordRevoked: "アプリ パスワードを失効させました。",
	NoAppPasswords: "アプリ パスワードはありません。", VerifiedAt: "確認", CompletedAt: "完了",

	States: map[enroll.State]string{
		enroll.StatePending: "未発信", enroll.StateCalling: "通話中", enroll.StateVerified: "確認済み",
		enroll.StateFailed: "失敗", enroll.StateCompleted: "完了", enroll.StateExpired: "期限切れ",
	},
	Outcomes: map[enroll.Outcome]string{
		enroll.OutcomeVerified: "確認済み", enroll.OutcomeNoAnswer: "応答なし", enroll.OutcomeBusy: "話し中",
		enroll.OutcomeRejected: "拒否", enroll.OutcomeUnreachable: "不達", enroll.OutcomeNoInput: "入力なし",
		enroll.OutcomeWrongInput: "誤入力", enroll.OutcomeHungUp: "切断", enroll.OutcomeFraudReported: "不正報告",
		enroll.OutcomeFailed: "失敗",
	},
	Actions: map[string]string{
		enroll.ActionCreate: "作成", enroll.ActionCallStart: "発信", enroll.ActionCallEnd: "通話終了",
		enroll.ActionBlock: "番号をブロック", enroll.ActionComplete: "アプリ パスワード発行", enroll.ActionExpire: "期限切れ",
		enroll.ActionRecover: "中断の記録",
	},
	OpActions: map[string]string{
		enroll.OpUnblock: "ブロック解除", enroll.OpAPIKeyCreate: "API キー作成", enroll.OpAPIKeyRevoke: "API キー失効",
		enroll.OpAppPasswordRevoke: "アプリ パスワード失効", enroll.OpWebhookRedeliver: "Webhook 再送",
	},
}

var en = msgs{
	Lang: "en", OtherLang: "ja", OtherLangName: "日本語",
	Title: "denwa console", SkipToMain: "Skip to main content", SignedInAs: "API key",

	NavOverview: "Overview", NavEnrollments: "Enrollments", NavFraud: "Fraud and blocks", NavWebhooks: "Webhooks",
	NavKeys: "API keys", SignOut: "Sign out",

	SignInTitle:  "Sign in",
	SignInLead:   "Sign in with an API key that has the admin scope. Make one with:",
	KeyLabel:     "API key",
	KeyHint:      "The key starting with dnw_. It is never shown on these pages.",
	SignIn:       "Sign in",
	SignInFailed: "Could not sign in. Enter an active API key with the admin scope.",
	TooManyTries: "Too many failed sign-ins. Please wait a while and try again.",

	ErrTitle:    "Error",
	NotFound:    "There is no such page.",
	Forbidden:   "The request was refused. Reload the page and try again.",
	SignInAgain: "Your sign-in has expired or the API key is no longer valid. Please sign in again.",
	Internal:    "Something went wrong on our side. Please try again in a little while.",
	BadInput:    "The input is not valid.",
	Conflict:    "Another action got there first; nothing was done. Reload the page.",

	OverviewTitle: "Today at a glance", Window: "Window", InProgress: "Calls in progress", Calls: "Calls",
	Verified: "Verified", FraudReports: "Fraud reports", Failures: "Failures",
	ChartTitle: "Call outcomes per hour", ChartNone: "No calls in this window.",
	FailuresByCause: "Failures by cause", NoFailures: "No failed calls.", KeySources: "Key sources",
	AnswerToKey: "Time from answer to key", Median: "Median", P95: "95th percentile", Count: "Count",
	Cause: "Cause", Outcome: "Outcome", NotVerified: "Calls not verified",

	EnrollmentsTitle: "Enrollments", Search: "Search", State: "State", Any: "Any",
	Created: "Created", User: "User", Phone: "Phone", Attempts: "Calls", Next: "Next", First: "First",
	NoEnrollments: "No enrollments match.", Detail: "Enrollment", Timeline: "Timeline", Time: "Time", Action: "Action",
	Keys: "Keys", KeySource: "Key source", Node: "Node", Actor: "Actor", Request: "Request",
	Expires: "Expires", Updated: "Updated", ID: "ID", BackToList: "Back to the list",
	Answered: "Answered", KeyAt: "Key pressed", AfterAnswer: "%s after the answer",

	FraudTitle: "Fraud reports and blocked numbers", FraudLead: "A number reported with 「0」 「#」 is blocked and cannot be enrolled. When the report turns out to be the user's mistake, lift the block; the unblock is audited.",
	Blocked: "Blocked numbers", NoBlocked: "No number is blocked.", NoFraud: "No fraud reports.",
	Reason: "Reason", ReasonHint: "Optional; kept in the audit trail.", Unblock: "Unblock",
	Unblocked: "The block on %s was lifted.", BlockedSince: "Blocked at", Enrollment: "Enrollment",
	OperatorEvents: "Operator actions", Target: "Target", Lifted: "Lifted",

	WebhooksTitle: "Webhooks", Pending: "Pending", Dead: "Dead", Event: "Event", NextAttempt: "Next attempt",
	LastError: "Last error", Redeliver: "Redeliver", Redelivered: "Webhook %d is queued for delivery again.",
	NoWebhooks: "No webhooks here.",

	KeysTitle: "API keys", Name: "Name", Scopes: "Scopes", Revoked: "Revoked", Active: "Active", Revoke: "Revoke",
	RevokedDone: "The API key %s was revoked.", CreateKey: "Create", CreateKeyLead: "Create a new API key. It is shown once, right after it is made.",
	NewKeyTitle: "API key created", NewKeyOnce: "This key will never be shown again. Store it somewhere safe now.",
	NewKeyDone: "Back to the API keys", CreateKeyTitle: "Create an API key", ThisSession: "signed in",

	AppPasswords: "The user's app passwords", LastUsed: "Last used", AppPasswordRevoked: "The app password was revoked.",
	NoAppPasswords: "No app passwords.", VerifiedAt: "Verified", CompletedAt: "Completed",

	States: map[enroll.State]string{
		enroll.StatePending: "pending", enroll.StateCalling: "calling", enroll.StateVerified: "verified",
		enroll.StateFailed: "failed", enroll.StateCompleted: "completed", enroll.StateExpired: "expired",
	},
	Outcomes: map[enroll.Outcome]string{
		enroll.OutcomeVerified: "verified", enroll.OutcomeNoAnswer: "no answer", enroll.OutcomeBusy: "busy",
		enroll.OutcomeRejected: "rejected", enroll.OutcomeUnreachable: "unreachable", enroll.OutcomeNoInput: "no input",
		enroll.OutcomeWrongInput: "wrong input", enroll.OutcomeHungUp: "hung up", enroll.OutcomeFraudReported: "fraud reported",
		enroll.OutcomeFailed: "failed",
	},
	Actions: map[string]string{
		enroll.ActionCreate: "created", enroll.ActionCallStart: "call started", enroll.ActionCallEnd: "call ended",
		enroll.ActionBlock: "number blocked", enroll.ActionComplete: "app password issued", enroll.ActionExpire: "expired",
		enroll.ActionRecover: "interrupted call recorded",
	},
	OpActions: map[string]string{
		enroll.OpUnblock: "unblock", enroll.OpAPIKeyCreate: "API key created", enroll.OpAPIKeyRevoke: "API key revoked",
		enroll.OpAppPasswordRevoke: "app password revoked", enroll.OpWebhookRedeliver: "webhook redelivered",
	},
}
