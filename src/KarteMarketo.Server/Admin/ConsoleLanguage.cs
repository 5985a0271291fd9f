using Microsoft.Net.Http.Headers;

namespace KarteMarketo.Server.Admin;

/// <summary>
/// The console's language: <c>?lang=ja|en</c> (remembered in a cookie), else the cookie, else Japanese where the
/// browser's <c>Accept-Language</c> prefers Japanese to English, else English.
/// </summary>
public static class ConsoleLanguage
{
    public const string Japanese = "ja";
    public const string English = "en";
    public const string QueryKey = "lang";
    public const string CookieName = "km_console_lang";

    public static string Resolve(HttpContext context)
    {
        var asked = context.Request.Query[QueryKey].ToString();
        if (asked is Japanese or English)
        {
            context.Response.Cookies.Append(CookieName, asked, new CookieOptions
            {
                Path = ConsoleSetup.PathPrefix,
                HttpOnly = true,
                SameSite = Microsoft.AspNetCore.Http.SameSiteMode.Lax,
                Secure = context.Request.IsHttps,
                MaxAge = TimeSpan.FromDays(365),
                IsEssential = true,
            });
            return asked;
        }
        var remembered = context.Request.Cookies[CookieName];
        if (remembered is Japanese or English) return remembered;
        return FromAcceptLanguage(context.Request.Headers.AcceptLanguage.ToString());
    }

    /// <summary>The first of ja and en in the browser's order of preference (q-values honoured); English if neither.</summary>
    public static string FromAcceptLanguage(string header)
    {
        if (string.IsNullOrWhiteSpace(header)) return English;
        if (!StringWithQualityHeaderValue.TryParseList(header.Split(','), out var values)) return English;
        var ordered = values
            .Select((v, i) => (Tag: v.Value.ToString().ToLowerInvariant(), Q: v.Quality ?? 1.0, Index: i))
            .Where(v => v.Q > 0)
            .OrderByDescending(v => v.Q).ThenBy(v => v.Index);
        foreach (var (tag, _, _) in ordered)
        {
            if (tag == Japanese || tag.StartsWith("ja-", StringComparison.Ordinal)) return Japanese;
            if (tag == English || tag.StartsWith("en-", StringComparison.Ordinal)) return English;
        }
        return English;
    }
}

/// <summary>The console's labels. Written in English in the pages; this table gives the Japanese. A label missing
/// here shows in English. Validation messages are the API's own and stay in English, as the API answers them.</summary>
public static class ConsoleText
{
    public static string Get(string language, string english) =>
        language == ConsoleLanguage.Japanese && Japanese.TryGetValue(english, out var ja) ? ja : english;

    private static readonly Dictionary<string, string> Japanese = new(StringComparer.Ordinal)
    {
        ["KarteMarketo console"] = "KarteMarketo コンソール",
        ["Sign in"] = "サインイン",
        ["Sign out"] = "サインアウト",
        ["Admin key"] = "管理キー",
        ["The admin key is not correct."] = "管理キーが正しくありません。",
        ["Projects"] = "プロジェクト",
        ["No projects yet."] = "プロジェクトはまだありません。",
        ["Open or create a project"] = "プロジェクトを開く・作成する",
        ["Project id"] = "プロジェクト ID",
        ["Open"] = "開く",
        ["Settings"] = "設定",
        ["Mappings"] = "マッピング",
        ["Sync status"] = "同期状況",
        ["Marketo day"] = "Marketo の 1 日",
        ["Outboxes"] = "送信キュー",
        ["Marketo connection"] = "Marketo 接続",
        ["Client ID"] = "クライアント ID",
        ["Client secret"] = "クライアントシークレット",
        ["REST endpoint"] = "REST エンドポイント",
        ["Identity endpoint"] = "Identity エンドポイント",
        ["Munchkin private key"] = "Munchkin 秘密鍵",
        ["Remove the stored key"] = "保存されている鍵を削除",
        ["Custom fields"] = "カスタムフィールド",
        ["Excluded fields"] = "除外フィールド",
        ["Time zone"] = "タイムゾーン",
        ["comma-separated"] = "カンマ区切り",
        ["Stored; leave empty to keep it"] = "保存済み。空欄のままなら変更しません",
        ["Periodic sync"] = "定期同期",
        ["Enabled"] = "有効",
        ["Interval (minutes)"] = "間隔（分）",
        ["Realtime sync"] = "リアルタイム同期",
        ["Keys"] = "キー",
        ["Resync window (seconds)"] = "再同期ウィンドウ（秒）",
        ["Batching delay (ms)"] = "バッチ待ち時間（ミリ秒）",
        ["Quota"] = "API 予算",
        ["Daily limit"] = "1 日の上限",
        ["Reserve (%)"] = "予備（%）",
        ["Calls per 20 seconds"] = "20 秒あたりの呼び出し",
        ["Concurrent calls"] = "同時呼び出し",
        ["Save"] = "保存",
        ["Saved."] = "保存しました。",
        ["Nothing was saved: fix the fields marked below."] = "保存されていません。下の項目を直してください。",
        ["The project was created. Copy these keys now: they are shown only once."] =
            "プロジェクトを作成しました。これらのキーは一度だけ表示されます。今コピーしてください。",
        ["API key"] = "API キー",
        ["Webhook secret"] = "Webhook シークレット",
        ["Connection check"] = "接続チェック",
        ["New project: the first save creates it."] = "新しいプロジェクト：最初の保存で作成されます。",
        ["Field mappings"] = "フィールドマッピング",
        ["Activity mappings"] = "アクティビティマッピング",
        ["Marketo field"] = "Marketo フィールド",
        ["Conversion"] = "変換",
        ["User info field"] = "ユーザー情報フィールド",
        ["Subscription field"] = "購読フィールド",
        ["Add a field mapping"] = "フィールドマッピングを追加",
        ["Add an activity mapping"] = "アクティビティマッピングを追加",
        ["Remove"] = "削除",
        ["Up"] = "上へ",
        ["Down"] = "下へ",
        ["KARTE event"] = "KARTE イベント",
        ["Activity type id"] = "アクティビティタイプ ID",
        ["Primary attribute"] = "主属性",
        ["Attributes"] = "属性",
        ["apiName=valueKey, comma-separated"] = "API名=値キー（カンマ区切り）",
        ["Changes are kept on this page until you save."] = "保存するまで変更はこのページだけに残ります。",
        ["Language"] = "言語",
        ["Project not found."] = "プロジェクトが見つかりません。",
        ["Last updated"] = "最終更新",
        ["Version"] = "バージョン",
        ["Other errors"] = "その他のエラー",
        ["Instance"] = "インスタンス",
        ["Day"] = "日付",
        ["Resets at"] = "リセット時刻",
        ["Used"] = "使用数",
        ["Budget"] = "使える呼び出し",
        ["Remaining"] = "残り",
        ["Throttled"] = "拒否された呼び出し",
        ["Runs out at"] = "使い切る時刻",
        ["not before the reset"] = "リセットまで使い切らない",
        ["Calls at the day's end"] = "1 日の終わりの呼び出し数",
        ["Calls over the day"] = "1 日の呼び出し",
        ["Calls per hour by purpose"] = "用途別・時間ごとの呼び出し",
        ["The forecast extends the last hour's pace to the Central midnight."] = "予測は直近 1 時間のペースを米国中部時間の深夜 0 時まで延ばしたものです。",
        ["Segments"] = "セグメント",
        ["Look a user up"] = "ユーザーを調べる",
        ["User id or email"] = "ユーザー ID またはメール",
        ["Look up"] = "調べる",
        ["No user found."] = "ユーザーが見つかりません。",
        ["Key"] = "キー",
        ["Last result"] = "最後の結果",
        ["Last error"] = "最後のエラー",
        ["Synced by"] = "同期キー",
        ["Last request"] = "最後のリクエスト",
        ["Next eligible"] = "次に同期できる時刻",
        ["User info"] = "ユーザー情報",
        ["Custom activities"] = "カスタムアクティビティ",
        ["Lead upserts"] = "リード登録",
        ["KARTE writes"] = "KARTE への書き込み",
        ["Sent again"] = "再送しました",
        ["KARTE writes are paused: KARTE refused the app token. Nothing is lost; they are sent once the project's KARTE settings are saved."] =
            "KARTE への書き込みは停止中です: KARTE がアプリトークンを拒否しました。失われるものはありません。プロジェクトの KARTE 設定を保存すると送信されます。",
        ["Retry all failed"] = "失敗をすべて再送",
        ["Retry"] = "再送",
        ["Status"] = "状態",
        ["User"] = "ユーザー",
        ["What"] = "内容",
        ["Attempts"] = "試行回数",
        ["The remote answer"] = "相手先の応答",
        ["Created"] = "作成",
        ["KARTE connection"] = "KARTE 接続",
        ["Writing to KARTE"] = "KARTE への書き込み設定",
        ["KARTE endpoint"] = "KARTE エンドポイント",
        ["App token"] = "アプリトークン",
        ["Requests per second"] = "1 秒あたりのリクエスト",
        ["Write only on change"] = "変更があったときだけ書き込む",
        ["Lookup results"] = "照会結果",
        ["Last 24 hours"] = "直近 24 時間",
        ["In total"] = "累計",
        ["Key lookups by result (one per key and lookup), counted since"] = "結果別のキー照会数（キーと照会ごとに 1 件）。集計開始",
        ["Backlog"] = "再照会待ち",
        ["Keys waiting"] = "待機中のキー",
        ["Next due"] = "次の予定",
        ["Last drained"] = "最後の処理",
        ["Resync every key…"] = "全キーを再同期…",
        ["Last errors"] = "最近のエラー",
        ["No errors."] = "エラーはありません。",
        ["When"] = "日時",
        ["Result"] = "結果",
        ["Purpose"] = "用途",
        ["Error"] = "エラー",
        ["Resync"] = "再同期",
        ["A resync looks every key the project's users carry up again (after a settings change), 300 keys per Marketo call, within the day's budget (purpose periodic)."] =
            "再同期は、プロジェクトのユーザーが持つすべてのキーを改めて照会します（設定変更の後など）。Marketo の呼び出し 1 回で 300 キーずつ、1 日の予算の範囲で行います（用途 periodic）。",
        ["Resync queued"] = "再同期を登録しました",
        ["keys"] = "キー",
        ["Marketo calls"] = "回の Marketo 呼び出し",
        ["Keys to look up"] = "照会するキー",
        ["Estimated Marketo calls"] = "見込みの Marketo 呼び出し",
        ["Remaining today"] = "今日の残り",
        ["More calls than remain today: the rest wait for Marketo's next day."] = "今日の残りより多い呼び出しです。残りは Marketo の翌日まで待ちます。",
        ["Confirm resync"] = "再同期を実行",
    };
}
