using Microsoft.AspNetCore.Mvc;

namespace KarteMarketo.Server.Admin.Pages;

/// <summary><c>/admin/login</c>: the admin key in a form field named <c>adminKey</c>; a wrong key is answered 401.</summary>
public sealed class LoginModel(AdminKeyProvider keys) : ConsolePage
{
    public bool Refused { get; private set; }

    [BindProperty(SupportsGet = true)]
    public string? ReturnUrl { get; set; }

    public void OnGet() => Title = "Sign in";

    public async Task<IActionResult> OnPostAsync([FromForm] string? adminKey)
    {
        Title = "Sign in";
        if (await ConsoleAuth.TrySignInAsync(HttpContext, keys, adminKey))
            return LocalRedirect(SafeReturnUrl(ReturnUrl));
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
