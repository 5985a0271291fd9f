using Microsoft.AspNetCore.Mvc;

namespace KarteMarketo.Server.Admin.Pages;

/// <summary><c>POST /admin/logout</c> (antiforgery-checked like every form) ends the session.</summary>
public sealed class LogoutModel : ConsolePage
{
    public IActionResult OnGet() => Redirect(ConsoleSetup.PathPrefix + "/");

    public async Task<IActionResult> OnPostAsync()
    {
        await ConsoleAuth.SignOutAsync(HttpContext);
        return Redirect(ConsoleSetup.PathPrefix + "/login");
    }
}
