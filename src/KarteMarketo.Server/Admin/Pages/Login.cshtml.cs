using Microsoft.AspNetCore.Mvc;

namespace KarteMarketo.Server.Admin.Pages;

/// <summary><c>/admin/login</c>: the admin key in a form field named <c>adminKey</c>; a wrong key is answered 401.
/// Wrong keys count against the client address's failed-authentication budget shared with the API
/// (<see cref="FailedAuthLimiter"/>, <c>Auth:FailedPerMinute</c>): past it, every sign-in is 429 until the minute is over.</summary>
public sealed class LoginModel(AdminKeyProvider keys, FailedAuthLimiter failedAuth) : ConsolePage
{
    public bool Refused { get; private set; }

    [BindProperty(SupportsGet = true)]
    public string? ReturnUrl { get; set; }

    public void OnGet() => Title = "Sign in";

    public async Task<IActionResult> OnPostAsync([FromForm] string? adminKey)
    {
        Title = "Sign in";
        // Checked before the key, and the right key included: otherwise a guesser would learn from the answer.
        if (failedAuth.RetryAfter(HttpContext) is { } retryAfter)
        {
            await FailedAuthLimiter.RejectAsync(HttpContext, retryAfter);
            return new EmptyResult();
        }
        if (await ConsoleAuth.TrySignInAsync(HttpContext, keys, adminKey))
            return LocalRedirect(SafeReturnUrl(ReturnUrl));
        failedAuth.RecordFailure(HttpContext);
        Refused = true;
        Response.StatusCode = StatusCodes.Status401Unauthorized;
        return Page();
    }

    /// <summary>Only back into the console: never an absolute or protocol-relative address.</summary>
    internal static string SafeReturnUrl(string? returnUrl) =>
        returnUrl is { Length: > 0 } url && url.StartsWith(ConsoleSetup.PathPrefix + "/", StringComparison.Ordinal)
            && !url.StartsWith("//", StringComparison.Ordinal) && !url.Contains('\\')
            ? url
            : ConsoleSetup.PathPrefix + "/";
}
