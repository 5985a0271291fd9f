namespace KarteMarketo.Marketo;

/// <summary>How the client treats Marketo's response-level codes (facts §5).</summary>
public static class MarketoErrorCodes
{
    /// <summary>601 (invalid) and 602 (expired): get a new token and retry once.</summary>
    public static bool IsReAuthentication(string code) => code is "601" or "602";

    /// <summary>Codes Marketo does not count against the daily quota or the rate window (the starred codes).</summary>
    public static bool IsCounted(string code) => code is not ("601" or "602" or "604" or "605" or "608" or "611");

    /// <summary>The result kind of a response-level code. 601/602 map to <see cref="MarketoResultKind.AuthenticationFailed"/>
    /// (what they become when the retry with a fresh token fails too).</summary>
    public static MarketoResultKind Classify(string code) => code switch
    {
        "601" or "602" => MarketoResultKind.AuthenticationFailed,
        // 502 Bad Gateway, 604 Request time-out, 608 API Temporarily Unavailable, 611 System error, 713 Transient Error.
        "502" or "604" or "608" or "611" or "713" => MarketoResultKind.Transient,
        "606" => MarketoResultKind.RateLimited,
        "615" => MarketoResultKind.ConcurrencyLimited,
        "607" => MarketoResultKind.DailyQuotaExhausted,
        _ => MarketoResultKind.CallerError,
    };
}
